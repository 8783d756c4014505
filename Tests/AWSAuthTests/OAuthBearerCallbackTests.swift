import Foundation
import KafkaClient
import KafkaTestSupport
import Logging
import Synchronization
import Testing

/// librdkafka asks for OAUTHBEARER tokens on its background thread: consumers, producers and the
/// admin client (which nobody polls) all get one at start and a new one before it expires. No
/// broker is needed: the token is asked for and handed over before any connection succeeds.
@Suite(.ownThreads, .serialized) struct OAuthBearerCallbackTests {
    static func configuration(_ provider: @escaping KafkaOAuthBearerTokenProvider) -> KafkaConfiguration {
        KafkaConfiguration(
            bootstrapServers: "127.0.0.1:1", clientID: "oauthbearer-test",
            properties: ["security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER"],
            oauthBearerTokenProvider: provider)
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    static func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return condition()
    }

    @Test func everyClientKindGetsATokenAndRefreshesIt() throws {
        let calls = Atomic<Int>(0)
        let capture = LogCapture()
        // A 3 s token: librdkafka asks for the next at 80 % of its lifetime.
        let kafka = Self.configuration {
            calls.add(1, ordering: .relaxed)
            return KafkaOAuthBearerToken(value: "token-value-SECRET-\(UUID().uuidString)", expiresAtMilliseconds: Self.nowMs() + 3000,
                                         principal: "msk-iam", extensions: ["traceId": "t1"])
        }
        let admin = try KafkaAdmin(configuration: kafka, logger: capture.logger("admin"))
        #expect(Self.waitUntil(10) { capture.all.filter { $0.contains("OAUTHBEARER token set") }.count >= 2 },
                "admin: the first token and one refresh within 10 s")
        _ = admin
        let afterAdmin = calls.load(ordering: .relaxed)
        #expect(afterAdmin >= 2)

        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(common: kafka), logger: capture.logger("producer"))
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(common: kafka, groupID: "g"), logger: capture.logger("consumer"))
        #expect(Self.waitUntil(10) { calls.load(ordering: .relaxed) >= afterAdmin + 2 }, "producer and consumer ask too, unpolled")
        try producer.close(timeout: .milliseconds(10))
        _ = consumer

        let logged = capture.text
        #expect(!logged.contains("token-value-SECRET"), "the token never reaches a log line")
        #expect(!logged.contains("token refused by librdkafka") && !logged.contains("refresh failed"))
    }

    /// Over the wire: librdkafka authenticates to a loopback broker with exactly the provider's token.
    @Test func theTokenIsWhatTheBrokerReceives() throws {
        let broker = try FakeSASLBroker()
        defer { broker.stop() }
        let issued = Mutex<[String]>([])
        var kafka = Self.configuration {
            let value = "msk-token-\(UUID().uuidString)"
            issued.withLock { $0.append(value) }
            return KafkaOAuthBearerToken(value: value, expiresAtMilliseconds: Self.nowMs() + 600_000, principal: "msk-iam")
        }
        kafka.bootstrapServers = "127.0.0.1:\(broker.port)"
        let capture = LogCapture()
        let admin = try KafkaAdmin(configuration: kafka, logger: capture.logger())
        _ = try? admin.partitionCounts(timeout: .seconds(3))  // Makes the client connect.
        #expect(Self.waitUntil(10) { !broker.authentications.isEmpty }, "\(capture.text)")
        let tokens = issued.withLock { $0 }
        let first = try #require(broker.authentications.first)
        #expect(first == "n,,\u{1}auth=Bearer \(tokens.first ?? "?")\u{1}\u{1}")
    }

    @Test func aFailureIsReportedToLibrdkafka() throws {
        let capture = LogCapture()
        struct NoCredentials: Error, CustomStringConvertible { var description: String { "no AWS credentials found" } }
        let failing = try KafkaAdmin(configuration: Self.configuration { throw NoCredentials() }, logger: capture.logger())
        #expect(Self.waitUntil(10) { capture.text.contains("OAUTHBEARER token refresh failed: no AWS credentials found") })
        _ = failing

        // librdkafka refuses an expired token; the refusal is logged and reported as a failure.
        let expired = try KafkaAdmin(configuration: Self.configuration {
            KafkaOAuthBearerToken(value: "expired-token", expiresAtMilliseconds: Self.nowMs() - 60_000, principal: "msk-iam")
        }, logger: capture.logger())
        #expect(Self.waitUntil(10) { capture.text.contains("OAUTHBEARER token refused by librdkafka") })
        _ = expired
        #expect(!capture.text.contains("OAUTHBEARER token set"))
    }
}
