import Foundation
import KafkaClient
import Logging

/// The topics a pipeline writes: found, or created when missing (input topics are waited for,
/// never created).
enum TopicSetup {
    /// Creates what tokentrail writes and is missing: repartition, checkpoint, output, dead-letter topics.
    static func prepare(configuration c: PipelineConfiguration, admin: KafkaAdmin, logger: Logger, until stop: () -> Bool) throws {
        var counts = try admin.partitionCounts()
        let deadline = ContinuousClock.now + .seconds(30)
        while c.inputTopics.contains(where: { counts[$0] == nil }) {
            guard ContinuousClock.now < deadline, !stop() else {
                throw KafkaError(code: .unknownTopicOrPartition,
                                 message: "input topic(s) \(c.inputTopics.filter { counts[$0] == nil }) do not exist")
            }
            logger.warning("waiting for input topics", metadata: ["topics": "\(c.inputTopics)"])
            Thread.sleep(forTimeInterval: 1)
            counts = try admin.partitionCounts()
        }
        let inputMax = c.inputTopics.compactMap { counts[$0] }.max() ?? 1
        let n = c.createdTopicPartitions > 0 ? c.createdTopicPartitions : inputMax
        let retention = ["retention.ms": String(c.createdTopicRetentionMilliseconds)]
        var specs = [
            KafkaTopicSpec(name: c.outputTopic, partitions: n, replicationFactor: c.createdTopicReplicationFactor, config: retention),
            KafkaTopicSpec(name: c.deadLetterTopic, partitions: n, replicationFactor: c.createdTopicReplicationFactor, config: retention),
            // Compaction keeps the latest checkpoint per key (brokers that support it).
            KafkaTopicSpec(name: c.effectiveCheckpointTopic, partitions: max(inputMax, n), replicationFactor: c.createdTopicReplicationFactor,
                           config: retention.merging(["cleanup.policy": "compact,delete"]) { $1 }),
        ]
        if !c.inputKeyed {
            specs.append(KafkaTopicSpec(name: c.effectiveRepartitionTopic, partitions: inputMax,
                                        replicationFactor: c.createdTopicReplicationFactor, config: retention))
        }
        let missing = specs.filter { counts[$0.name] == nil }
        if !missing.isEmpty {
            logger.info("creating topics", metadata: ["topics": "\(missing.map(\.name))"])
            try admin.createTopics(missing)
            // Wait until the metadata shows them.
            let until = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < until, try missing.contains(where: { try admin.partitionCounts()[$0.name] == nil }) {
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
    }
}
