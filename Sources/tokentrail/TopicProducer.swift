import KafkaClient
import Logging
import Synchronization

/// The producer behind `simulate` and `replay`: one topic, created when missing, delivery failures
/// counted on librdkafka's callback thread, and `finish` failing when any record was not delivered.
final class TopicProducer {
    let topic: String
    private let producer: KafkaProducer
    private let failures = DeliveryFailures()

    /// `create`: the topic to create when it does not exist; `existing`: checks the partition count of
    /// one that does (throw to refuse it).
    init(kafka: KafkaConfiguration, producer configuration: KafkaProducerConfiguration, create spec: KafkaTopicSpec,
         label: String, existing: (Int) throws -> Void = { _ in }) throws {
        topic = spec.name
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        do {
            let admin = try KafkaAdmin(configuration: kafka, logger: logger)
            if let partitions = try admin.partitionCounts()[spec.name] {
                try existing(partitions)
            } else {
                try admin.createTopics([spec])
            }
            producer = try KafkaProducer(configuration: configuration, logger: logger, deliveryReport: { [failures] report in
                guard let error = report.error else { return }
                failures.state.withLock { state in
                    state.count += 1
                    if state.first == nil { state.first = "\(error)" }
                }
            })
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure("Kafka at \(kafka.bootstrapServers): \(error)")
        }
    }

    func send(partition: Int32? = nil, key: [UInt8]?, value: [UInt8]) throws {
        do {
            try producer.send(topic: topic, partition: partition, key: key, value: value)
        } catch {
            throw CommandFailure("producing to \(topic) failed: \(error)")
        }
    }

    /// Flushes and closes; an error if any record was not delivered.
    func finish() throws {
        do {
            try producer.close(timeout: .seconds(120))
        } catch {
            throw CommandFailure("flushing to \(topic) failed: \(error)")
        }
        let (count, first) = failures.state.withLock { ($0.count, $0.first) }
        if count > 0 { throw CommandFailure("\(count) records were not delivered to \(topic); first error: \(first ?? "?")") }
    }
}

/// Delivery errors reported by librdkafka's callback thread.
final class DeliveryFailures: Sendable {
    let state = Mutex<(count: Int, first: String?)>((0, nil))
}
