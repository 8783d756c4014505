import Foundation
import KafkaClient
import KafkaTestSupport
import Testing

/// A broker that stops answering (SIGSTOP) for 15 s mid-stream, on a private broker so that
/// other tests running in parallel keep theirs.
@Suite(.ownThreads, .enabled(if: TestBroker.isEnabled), .timeLimit(.minutes(6)))
struct BrokerPauseTests {
    @Test func producerAndConsumerRecoverWithoutLossAfterBrokerPause() throws {
        _ = try TestBroker.require()
        let broker = try PrivateBroker()
        let topic = TestBroker.unique("pause")
        try TestBroker.createTopic(broker.bootstrap, topic, partitions: 2)
        let log = DeliveryLog()
        let producer = try makeProducer(broker.bootstrap, log: log)
        let consumer = try KafkaConsumer(configuration: TestBroker.consumerConfig(broker.bootstrap, group: TestBroker.unique("g")), logger: TestBroker.logger)
        try consumer.subscribe(topics: [topic])

        let n = 2_000
        for i in 0..<n / 2 { try producer.send(topic: topic, key: Array("k\(i)".utf8), value: Array(String(i).utf8)) }
        var got = try consume(consumer, until: .now + .seconds(30)) { $0.count >= n / 2 }
        #expect(got.count == n / 2)

        broker.pause()
        let pausedAt = ContinuousClock.now
        // Produced while the broker is frozen: buffered by librdkafka, delivered after.
        for i in n / 2..<n { try producer.send(topic: topic, key: Array("k\(i)".utf8), value: Array(String(i).utf8)) }
        let duringPause = try consume(consumer, until: pausedAt + .seconds(15)) { _ in false }
        got += duringPause
        broker.resume()

        try producer.flush(timeout: .seconds(60))
        // The 6 s session expired during the pause: the consumer lost its partitions and rejoined.
        // With nothing committed it re-reads them from the start (at-least-once): count distinct values.
        let expected = Set((0..<n).map(String.init))
        var distinct = Set(got.map(\.value))
        let after = try consume(consumer, until: .now + .seconds(60)) { batch in
            distinct.count + Set(batch.map(\.value)).subtracting(distinct).count >= n
        }
        distinct.formUnion(after.map(\.value))
        try consumer.close()
        // Everything in the topic, read afresh: each record exactly once.
        let fresh = try KafkaConsumer(configuration: TestBroker.consumerConfig(broker.bootstrap, group: TestBroker.unique("g")), logger: TestBroker.logger)
        try fresh.subscribe(topics: [topic])
        var all = try consume(fresh, until: .now + .seconds(30)) { $0.count >= n }
        all += try consume(fresh, until: .now + .seconds(2)) { _ in false }
        try fresh.close()
        let written = all.count
        try producer.close(timeout: .seconds(5))

        #expect(log.failures.isEmpty, "no delivery failed: \(log.failures.prefix(3).map { "\($0.error!)" })")
        #expect(log.all.count == n)
        #expect(expected.subtracting(distinct).count == 0, "nothing lost")
        #expect(written == n, "the idempotent producer wrote each record once")
    }
}
