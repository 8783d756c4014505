public import AWSAuth
import Foundation
import KafkaClient
public import Logging

extension AWSMSKIAMSettings {
    /// What librdkafka is told the token's principal is (client-side only: MSK takes the identity
    /// from the signed request).
    public static let principal = "msk-iam"

    /// The MSK IAM token source over the standard credential chain; nil when no region is set.
    public func tokenSource(environment: [String: String], logger: Logger) -> MSKIAMTokenProvider? {
        guard let region else { return nil }
        return MSKIAMTokenProvider(region: region,
                                   chain: .standard(environment: environment, profile: profile, region: region, logger: logger))
    }

    /// librdkafka's OAUTHBEARER provider: a fresh token each time librdkafka asks (at start, then at
    /// 80 % of the token's 15 minutes); the credentials behind it are cached by the chain.
    func tokenProvider(environment: [String: String], logger: Logger) -> KafkaOAuthBearerTokenProvider? {
        guard let source = tokenSource(environment: environment, logger: logger) else { return nil }
        return {
            let issued = try source.tokenWaiting()
            logger.debug("MSK IAM token signed", metadata: [
                "provider": "\(issued.provider)", "region": "\(source.region)",
                "expiration": "\(ISO8601DateFormatter().string(from: issued.token.expiration))",
            ])
            return KafkaOAuthBearerToken(value: issued.token.value,
                                         expiresAtMilliseconds: Int64(issued.token.expiration.timeIntervalSince1970) * 1000,
                                         principal: Self.principal)
        }
    }
}
