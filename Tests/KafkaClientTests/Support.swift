import Foundation
import KafkaClient
import KafkaTestSupport
import Synchronization

/// Collects delivery reports from a producer's poll thread.
final class DeliveryLog: Sendable {
    private let reports = Mutex<[KafkaDeliveryReport]>([])
    var all: [KafkaDeliveryReport] { reports.withLock { $0 } }
    var failures: [KafkaDeliveryReport] { all.filter { !$0.isSuccess } }
    func record(_ r: KafkaDeliveryReport) { reports.withLock { $0.append(r) } }
}

struct Received: Hashable {
    var partition: Int32
    var offset: Int64
    var key: String
    var value: String
}

/// Polls until `stop` says so or the deadline passes; returns what arrived.
func consume(
    _ consumer: KafkaConsumer, until deadline: ContinuousClock.Instant,
    stop: ([Received]) -> Bool
) throws -> [Received] {
    var got: [Received] = []
    while ContinuousClock.now < deadline, !stop(got) {
        guard let event = try consumer.poll(timeout: .milliseconds(100)) else { continue }
        if case .message(let m) = event {
            got.append(Received(
                partition: m.partition, offset: m.offset,
                key: String(decoding: m.key ?? [], as: UTF8.self), value: String(decoding: m.value, as: UTF8.self)))
        }
    }
    return got
}

func makeProducer(_ bootstrap: String, log: DeliveryLog, _ configure: (inout KafkaProducerConfiguration) -> Void = { _ in }) throws -> KafkaProducer {
    var config = KafkaProducerConfiguration(common: KafkaConfiguration(bootstrapServers: bootstrap))
    configure(&config)
    return try KafkaProducer(configuration: config, logger: TestBroker.logger, deliveryReport: { log.record($0) })
}

/// Records what the rebalance hook saw, and commits the consumer's progress on revoke.
final class RecordingListener: KafkaRebalanceListener, @unchecked Sendable {
    var assigned: [KafkaTopicPartition] = []
    var revoked: [KafkaTopicPartition] = []
    var lost: [KafkaTopicPartition] = []
    var commitOnRevoke: ((([KafkaTopicPartition]) -> Void))?
    func partitionsAssigned(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: KafkaOffset] {
        assigned += partitions
        return [:]
    }
    func partitionsRevoked(_ partitions: [KafkaTopicPartition]) {
        revoked += partitions
        commitOnRevoke?(partitions)
    }
    func partitionsLost(_ partitions: [KafkaTopicPartition]) { lost += partitions }
}
