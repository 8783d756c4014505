import CRdKafka

/// librdkafka's partitioners, for code that picks partitions itself but must agree with a producer
/// that lets librdkafka pick.
public enum KafkaPartitioner {
    /// `consistent_random`, librdkafka's default: CRC-32 of the key modulo the partition count (a
    /// random partition for an empty key). Calls librdkafka's own function, so the two cannot differ.
    public static func consistentRandom(key: [UInt8], partitions: Int32) -> Int32 {
        precondition(partitions > 0, "a topic has at least one partition")
        return key.withUnsafeBytes { consistentRandom(key: $0, partitions: partitions) }
    }

    /// The same over borrowed bytes (a string's UTF-8 in place: no array per call).
    public static func consistentRandom(key: UnsafeRawBufferPointer, partitions: Int32) -> Int32 {
        precondition(partitions > 0, "a topic has at least one partition")
        return rd_kafka_msg_partitioner_consistent_random(nil, key.baseAddress, key.count, partitions, nil, nil)
    }
}
