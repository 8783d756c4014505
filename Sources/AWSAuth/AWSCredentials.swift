public import Foundation

/// An access key pair, with the session token and expiry of temporary credentials.
///
/// `description` never shows the secret key or the session token, so a credential that reaches a
/// log line or an error message by accident leaks nothing but its access key id.
public struct AWSCredentials: Sendable, Hashable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    /// Nil for long-term keys.
    public var sessionToken: String?
    /// Nil for credentials that do not expire (long-term keys).
    public var expiration: Date?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken.flatMap { $0.isEmpty ? nil : $0 }
        self.expiration = expiration
    }

    public var description: String {
        "AWSCredentials(accessKeyID: \(accessKeyID), secretAccessKey: ****, sessionToken: \(sessionToken == nil ? "none" : "****")"
            + (expiration.map { ", expiration: \(ISO8601.format($0))" } ?? "") + ")"
    }
}

/// Where credentials come from: one link of the chain (`AWSCredentialChain`).
public protocol AWSCredentialProvider: Sendable {
    /// Shown by `msk-token` and in logs: which source supplied the credentials.
    var name: String { get }
    /// Nil when this source is not configured here (the chain tries the next); throws when it is
    /// configured but fails (the chain stops: a broken IRSA setup must not fall through to IMDS).
    func load() async throws(AWSAuthError) -> AWSCredentials?
}

/// A credential source that could not deliver, or a token that could not be made. The message
/// never holds a secret.
public struct AWSAuthError: Error, Sendable, CustomStringConvertible {
    /// The provider (or "signer", "chain") that failed.
    public var source: String
    public var message: String
    public init(_ source: String, _ message: String) {
        self.source = source
        self.message = message
    }
    public var description: String { "\(source): \(message)" }
}

/// AWS's timestamps (`2026-12-03T15:00:00Z`, sometimes with fractional seconds).
enum ISO8601 {
    static func parse(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        if let d = f.date(from: text) { return d }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: text)
    }

    static func format(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
}
