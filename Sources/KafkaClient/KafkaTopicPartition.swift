/// One partition of one topic.
public struct KafkaTopicPartition: Hashable, Sendable, CustomStringConvertible, Comparable {
    public var topic: String
    public var partition: Int32
    public init(_ topic: String, _ partition: Int32) { self.topic = topic; self.partition = partition }
    public var description: String { "\(topic)[\(partition)]" }
    public static func < (a: Self, b: Self) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
}

/// An offset in a partition, with librdkafka's logical offsets named.
public struct KafkaOffset: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    /// The first offset still in the log.
    public static let beginning = KafkaOffset(-2)
    /// The next offset to be written (only new records).
    public static let end = KafkaOffset(-1)
    /// The group's committed offset, else `auto.offset.reset`.
    public static let stored = KafkaOffset(-1000)
    /// No offset: nothing committed.
    public static let invalid = KafkaOffset(-1001)
    public var isLogical: Bool { rawValue < 0 }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String {
        switch self {
        case .beginning: "beginning"
        case .end: "end"
        case .stored: "stored"
        case .invalid: "invalid"
        default: String(rawValue)
        }
    }
}

/// A partition with an offset (and, for commits, optional metadata), as librdkafka's lists carry them.
public struct KafkaTopicPartitionOffset: Hashable, Sendable, CustomStringConvertible {
    public var topicPartition: KafkaTopicPartition
    public var offset: KafkaOffset
    /// Commit metadata. Apache Kafka keeps it; the tansu test broker reads it back as none.
    public var metadata: String?
    public init(_ topicPartition: KafkaTopicPartition, _ offset: KafkaOffset, metadata: String? = nil) {
        self.topicPartition = topicPartition
        self.offset = offset
        self.metadata = metadata
    }
    public var topic: String { topicPartition.topic }
    public var partition: Int32 { topicPartition.partition }
    public var description: String { "\(topicPartition)@\(offset)" }
}

/// The low and high watermarks of a partition: the first offset and the next offset to be written.
public struct KafkaWatermarks: Hashable, Sendable {
    public var low: Int64
    public var high: Int64
    public init(low: Int64, high: Int64) { self.low = low; self.high = high }
}
