/// A SASL/OAUTHBEARER token as librdkafka takes it (`rd_kafka_oauthbearer_set_token`).
public struct KafkaOAuthBearerToken: Sendable {
    /// Sent to the broker; a bearer credential, never logged.
    public var value: String
    /// When it expires, in Unix milliseconds: librdkafka asks for the next at 80 % of the lifetime.
    public var expiresAtMilliseconds: Int64
    /// Client-side metadata only (librdkafka requires one; the broker derives the identity from the token).
    public var principal: String
    /// SASL extensions (RFC 7628), sent with the token.
    public var extensions: [String: String]

    public init(value: String, expiresAtMilliseconds: Int64, principal: String, extensions: [String: String] = [:]) {
        self.value = value
        self.expiresAtMilliseconds = expiresAtMilliseconds
        self.principal = principal
        self.extensions = extensions
    }
}

/// Makes a token when librdkafka asks: once when the client starts, then before each token
/// expires. It runs on librdkafka's background thread (not Swift's cooperative pool), so it may
/// block while it fetches credentials; a thrown error is reported to librdkafka, which asks again
/// after a back-off.
public typealias KafkaOAuthBearerTokenProvider = @Sendable () throws -> KafkaOAuthBearerToken
