/// The pipeline's hook into group rebalances. librdkafka calls it synchronously on the polling
/// thread, inside `poll` or `close`, *before* the assignment changes: on revoke the partitions
/// are still owned (commit their offsets now), on assign they are not yet fetching (choose where
/// each starts by returning an offset; omit a partition to start at its committed offset).
public protocol KafkaRebalanceListener: AnyObject {
    func partitionsAssigned(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: KafkaOffset]
    /// A clean hand-over: the partitions go to another member after this returns.
    func partitionsRevoked(_ partitions: [KafkaTopicPartition])
    /// The partitions were taken without a hand-over (session timed out): committing is futile.
    func partitionsLost(_ partitions: [KafkaTopicPartition])
}
