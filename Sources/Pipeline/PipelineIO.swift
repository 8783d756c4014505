import Foundation
import KafkaClient

/// What one consumer poll yields, for any consumer the runner drives.
enum ConsumerEvent<Record: ConsumedRecord> {
    case record(Record)
    /// The consumer reached the end of a partition's log: it is caught up.
    indirect case endOfPartition(KafkaTopicPartition)
    /// A consumer error that does not stop consumption (fatal ones are thrown).
    indirect case error(KafkaError)
}

/// The consumer as the runner uses it: librdkafka's `KafkaConsumer`, or a simulated cluster's
/// (a group member with cooperative rebalances calling `rebalanceListener` inside `next`).
protocol PipelineConsumer: AnyObject {
    associatedtype Record: ConsumedRecord
    var rebalanceListener: (any KafkaRebalanceListener)? { get set }
    func subscribe(topics: [String]) throws(KafkaError)
    func next(timeout: Duration) throws(KafkaError) -> ConsumerEvent<Record>?
    func commit(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError)
    func commitAsync(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError)
    func committed(_ partitions: [KafkaTopicPartition], timeout: Duration) throws(KafkaError) -> [KafkaTopicPartitionOffset]
    func position(_ partitions: [KafkaTopicPartition]) throws(KafkaError) -> [KafkaTopicPartitionOffset]
    func seek(_ offsets: [KafkaTopicPartitionOffset], timeout: Duration) throws(KafkaError)
    func watermarks(_ tp: KafkaTopicPartition, cached: Bool, timeout: Duration) throws(KafkaError) -> KafkaWatermarks
    /// Serves the final revoke and leaves the group.
    func close() throws(KafkaError)
}

/// The producer as the runner uses it. Each `send` is answered by one delivery report with its `tag`
/// (through the closure the producer was made with), success or failure.
protocol PipelineProducer: AnyObject {
    associatedtype Consumer: PipelineConsumer
    /// Enqueues one record; `partition` nil partitions by key. Waits up to `queueFullTimeout` while
    /// the local queue is full, then throws `.queueFull`.
    func send(topic: String, partition: Int32?, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader],
              timestampMilliseconds: Int64?, tag: UInt64, queueFullTimeout: Duration) throws(KafkaError)
    /// Waits until every enqueued record has a delivery report, or throws `.timedOut`.
    func flush(timeout: Duration) throws(KafkaError)
    func initTransactions(timeout: Duration) throws(KafkaError)
    func beginTransaction() throws(KafkaError)
    func sendOffsetsToTransaction(_ offsets: [KafkaTopicPartitionOffset], consumer: Consumer, timeout: Duration) throws(KafkaError)
    func commitTransaction(timeout: Duration) throws(KafkaError)
    func abortTransaction(timeout: Duration) throws(KafkaError)
    func close(timeout: Duration) throws(KafkaError)
}

/// The latest checkpoint of each partition (`CheckpointReader` reads them from the checkpoint topic).
protocol CheckpointStore: AnyObject {
    /// Partitions whose newest checkpoint in the last `latest` call could not be used, and why.
    var unusable: [KafkaTopicPartition: String] { get }
    func checkpointPartition(for partition: Int32) -> Int32
    /// The latest usable checkpoint per requested partition (absent where none was written).
    func latest(for requested: [KafkaTopicPartition]) throws -> [KafkaTopicPartition: PartitionCheckpoint]
    func close()
}

/// Topic metadata: partitions added while running are found through it.
protocol PartitionMetadata: AnyObject {
    func partitionCounts(timeout: Duration) throws(KafkaError) -> [String: Int]
}

/// The runner's clocks: monotonic time for intervals, the wall clock for event-time decisions (idle
/// partitions, future skew), and waiting. A simulation runs them virtually.
protocol PipelineClock: Sendable {
    var now: ContinuousClock.Instant { get }
    /// Milliseconds since the epoch.
    var wallMilliseconds: Int64 { get }
    func sleep(_ duration: Duration)
}

struct SystemClock: PipelineClock {
    var now: ContinuousClock.Instant { .now }
    var wallMilliseconds: Int64 { wallClockMilliseconds() }
    func sleep(_ duration: Duration) { Thread.sleep(forTimeInterval: Double(duration.milliseconds) / 1000) }
}

extension KafkaConsumer: PipelineConsumer {
    func next(timeout: Duration) throws(KafkaError) -> ConsumerEvent<KafkaMessage>? {
        switch try poll(timeout: timeout) {
        case .message(let m)?: .record(m)
        case .endOfPartition(let tp, _)?: .endOfPartition(tp)
        case .error(let e)?: .error(e)
        case nil: nil
        }
    }
}

extension KafkaProducer: PipelineProducer {
    typealias Consumer = KafkaConsumer
}

extension CheckpointReader: CheckpointStore {
    func latest(for requested: [KafkaTopicPartition]) throws -> [KafkaTopicPartition: PartitionCheckpoint] {
        try latest(for: requested, timeout: .seconds(20))
    }
}

extension KafkaAdmin: PartitionMetadata {}
