import Foundation
import KafkaClient
import Testing
import TokentrailCore

/// `aws_msk_iam.*` with `kafka.sasl.mechanism: OAUTHBEARER`: checked together, and the secrets of
/// the credential chain never reach `check-config`'s output.
@Suite struct MSKIAMConfigurationTests {
    @Test(arguments: [
        ("kafka:\n  sasl.mechanism: OAUTHBEARER\n", "aws_msk_iam.region", "kafka.sasl.mechanism OAUTHBEARER has no token source", "us-east-1"),
        ("kafka:\n  sasl.mechanism: OAUTHBEARER\naws_msk_iam:\n  region: useast1\n", "aws_msk_iam.region", "'useast1' is not an AWS region name", "us-east-1"),
        ("kafka:\n  sasl.mechanism: OAUTHBEARER\naws_msk_iam:\n  region: US-EAST-1\n", "aws_msk_iam.region", "is not an AWS region name", "region name"),
        ("aws_msk_iam:\n  region: eu-west-1\n", "kafka.sasl.mechanism", "must be OAUTHBEARER when aws_msk_iam.region is set", "OAUTHBEARER"),
        ("kafka:\n  sasl.mechanism: SCRAM-SHA-512\naws_msk_iam:\n  region: eu-west-1\n", "kafka.sasl.mechanism", "'SCRAM-SHA-512' must be OAUTHBEARER", "OAUTHBEARER"),
        ("kafka:\n  sasl.mechanism: OAUTHBEARER\n  security.protocol: SASL_SSL\n  sasl.oauthbearer.method: oidc\naws_msk_iam:\n  region: eu-west-1\n", "aws_msk_iam.region", "conflicts with librdkafka's own OAUTHBEARER token source", "one token source"),
        ("aws_msk_iam:\n  regoin: eu-west-1\n", "aws_msk_iam.regoin", "did you mean aws_msk_iam.region", "aws_msk_iam.region"),
        ("kafka:\n  sasl.mechanism: OAUTHBEARER\naws_msk_iam:\n  region: eu-west-1\n", "kafka.security.protocol", "unset does not use SASL", "SASL_SSL"),
        ("kafka:\n  sasl.mechanism: OAUTHBEARER\n  security.protocol: SSL\naws_msk_iam:\n  region: eu-west-1\n", "kafka.security.protocol", "'SSL' does not use SASL", "SASL_SSL"),
    ])
    func rejected(yaml: String, path: String, says: String, allowed: String) {
        let found = problems(yaml)
        #expect(found.map(\.path) == [path], "\(found)")
        let text = ConfigurationError(found).description
        #expect(text.contains(says), "\(text)")
        #expect(text.contains(allowed), "\(text)")
    }

    @Test func oidcNeedsNoRegion() {
        #expect(problems("kafka:\n  sasl.mechanism: OAUTHBEARER\n  sasl.oauthbearer.method: oidc\n").isEmpty)
    }

    @Test func regionFromFileOrEnvironmentGivesEveryClientATokenProvider() throws {
        let yaml = "kafka:\n  sasl.mechanism: OAUTHBEARER\n  security.protocol: SASL_SSL\naws_msk_iam:\n  region: eu-west-1\n  profile: msk\n"
        let fromFile = try load(yaml)
        #expect(fromFile.awsMSKIAM.region == "eu-west-1" && fromFile.awsMSKIAM.profile == "msk")
        #expect(fromFile.pipelineConfiguration.kafka.oauthBearerTokenProvider != nil)
        let fromEnvironment = try load("", environment: [
            "TOKENTRAIL_KAFKA__SASL_MECHANISM": "OAUTHBEARER", "TOKENTRAIL_KAFKA__SECURITY_PROTOCOL": "sasl_ssl",
            "TOKENTRAIL_AWS_MSK_IAM__REGION": "ap-southeast-2",
        ])
        #expect(fromEnvironment.awsMSKIAM.region == "ap-southeast-2" && fromEnvironment.awsMSKIAM.profile == nil)
        #expect(try load("").pipelineConfiguration.kafka.oauthBearerTokenProvider == nil)
    }

    /// The token the clients get is MSK's, signed with the chain's credentials (here the environment's).
    /// Awaited, not `tokenWaiting`: a test's thread is one of the cooperative pool's, and blocking it
    /// while the token's task waits for a free one can starve the pool on two cores.
    @Test func theProviderSignsWithTheChainsCredentials() async throws {
        var settings = AWSMSKIAMSettings()
        settings.region = "eu-west-1"
        let source = try #require(settings.tokenSource(
            environment: ["AWS_ACCESS_KEY_ID": "AKIACONFIGTEST", "AWS_SECRET_ACCESS_KEY": "secret", "HOME": "/nonexistent"],
            logger: .init(label: "t")))
        let issued = try await source.token()
        #expect(issued.provider == "environment")
        var b64 = issued.token.value.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        let url = String(decoding: try #require(Data(base64Encoded: b64)), as: UTF8.self)
        #expect(url.hasPrefix("https://kafka.eu-west-1.amazonaws.com/?Action=kafka-cluster%3AConnect&"))
        #expect(url.contains("X-Amz-Credential=AKIACONFIGTEST%2F"))
    }

    /// `check-config` shows the MSK keys and none of the AWS secrets in the environment, and does not
    /// reach for credentials (it only checks the librdkafka properties).
    @Test func checkConfigShowsNoAWSSecret() throws {
        let started = ContinuousClock.now
        let (status, out, err) = try Tokentrail.run(["check-config"], environment: [
            "TOKENTRAIL_KAFKA__SASL_MECHANISM": "OAUTHBEARER", "TOKENTRAIL_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
            "TOKENTRAIL_AWS_MSK_IAM__REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "AKIACHECKCONFIG", "AWS_SECRET_ACCESS_KEY": "check-config-secret-value",
            "AWS_SESSION_TOKEN": "check-config-session-token",
        ])
        #expect(status == 0, "\(err)")
        #expect(out.contains("aws_msk_iam:\n  region: \"eu-west-1\"\n  profile: null"), "\(out)")
        for secret in ["check-config-secret-value", "check-config-session-token"] {
            #expect(!out.contains(secret) && !err.contains(secret))
        }
        #expect(ContinuousClock.now - started < .seconds(10))
    }
}
