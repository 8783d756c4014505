import KafkaClient

/// A consumed record as the stages read it: `KafkaMessage` from librdkafka, or a record of a simulated
/// cluster. The stages are generic over it, so the librdkafka path is specialised and pays nothing.
protocol ConsumedRecord {
    var topic: String { get }
    var partition: Int32 { get }
    var offset: Int64 { get }
    var topicPartition: KafkaTopicPartition { get }
    /// Producer or broker timestamp, milliseconds since the epoch.
    var timestampMilliseconds: Int64? { get }
    var key: [UInt8]? { get }
    var valueCount: Int { get }
    /// Lends the payload; the buffer must not escape `body`.
    func withValueBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
    /// Lends the key (nil for a record without one); the buffer must not escape `body`.
    func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R
}

extension KafkaMessage: ConsumedRecord {}
