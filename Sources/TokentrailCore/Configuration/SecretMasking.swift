/// Which configuration values are secrets, and scrubbing them out of any text before it is printed.
public enum SecretMasking {
    public static let mask = "****"

    /// Substrings of librdkafka property names that mark a secret: `sasl.password`,
    /// `ssl.key.password`, `ssl.key.pem`, `ssl.keystore.password`, `sasl.oauthbearer.client.secret`,
    /// `sasl.oauthbearer.config` (may embed a secret). Over-masking a path such as
    /// `ssl.key.location` costs nothing; under-masking leaks a credential into a log pipeline.
    static let markers = ["password", "secret", "token", "key", "credential", "sasl.oauthbearer.config", "sasl.jaas"]

    public static func isSecret(_ propertyName: String) -> Bool {
        let n = propertyName.lowercased()
        return markers.contains { n.contains($0) }
    }

    /// The kafka map with secret values replaced by `****`.
    public static func masked(_ kafka: [String: String]) -> [String: String] {
        kafka.reduce(into: [:]) { out, p in out[p.key] = isSecret(p.key) ? mask : p.value }
    }

    /// The secret values of a configuration, for `SecretRedactor`.
    public static func secretValues(_ settings: TokentrailSettings) -> [String] {
        settings.kafka.filter { isSecret($0.key) }.map(\.value)
    }
}

/// Replaces every occurrence of known secret values in a text with `****`.
///
/// The last line of defence for log lines and error messages whose text we do not control
/// (librdkafka's own messages, errors that echo a property value). Values shorter than
/// `minimumLength` are not searched for: replacing every "a" in every log line would make the logs
/// useless; they are still masked wherever tokentrail prints configuration itself.
public struct SecretRedactor: Sendable {
    public static let minimumLength = 4
    private let secrets: [String]

    public init(secrets: [String]) {
        // Longest first, so that a secret containing another is replaced whole.
        self.secrets = Array(Set(secrets.filter { $0.count >= Self.minimumLength })).sorted { $0.count > $1.count }
    }

    public var isEmpty: Bool { secrets.isEmpty }

    public func redact(_ text: String) -> String {
        var out = text
        for s in secrets where out.contains(s) {
            out = out.replacing(s, with: SecretMasking.mask)
        }
        return out
    }
}
