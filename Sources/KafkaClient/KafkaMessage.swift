/// A record header. Kafka allows duplicate names; order is kept.
public struct KafkaHeader: Hashable, Sendable {
    public var name: String
    public var value: [UInt8]?
    public init(_ name: String, _ value: [UInt8]?) { self.name = name; self.value = value }
    public init(_ name: String, _ value: String) { self.name = name; self.value = Array(value.utf8) }
    public var stringValue: String? { value.map { String(decoding: $0, as: UTF8.self) } }
}

/// A consumed record. It owns librdkafka's message and frees it when the last copy goes;
/// `withValueBytes` lends the payload without copying it.
public struct KafkaMessage: Sendable {
    let box: RDKafkaMessageBox

    public var topic: String { box.topic }
    public var partition: Int32 { box.partition }
    public var offset: Int64 { box.offset }
    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic, partition) }
    /// Producer or broker timestamp in milliseconds since the epoch, if the record has one.
    public var timestampMilliseconds: Int64? { box.timestamp }
    public var key: [UInt8]? { box.withKey { $0.map { Array($0) } } }
    public var value: [UInt8] { box.withValue { Array($0) } }
    public var valueCount: Int { box.withValue { $0.count } }
    public var headers: [KafkaHeader] { box.headers() }
    public func header(_ name: String) -> KafkaHeader? { headers.first { $0.name == name } }

    /// Lends the payload bytes. The buffer is valid only inside `body`: do not let it escape.
    public func withValueBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try box.withValue(body)
    }
    /// Lends the key bytes (nil for a record without a key). Do not let the buffer escape.
    public func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        try box.withKey(body)
    }
}

/// What one consumer poll yields.
///
/// The rare cases are `indirect`: the enum is then one pointer, and a poll's event is destroyed
/// cheaply; with `KafkaError` inline (about 80 bytes) every record's event would go through the
/// runtime's generic value witness.
public enum KafkaConsumerEvent: Sendable {
    case message(KafkaMessage)
    /// The consumer reached the end of a partition's log (`enable.partition.eof`): it is caught up.
    indirect case endOfPartition(KafkaTopicPartition, offset: Int64)
    /// A consumer error that does not stop consumption (fatal ones are thrown by `poll`).
    indirect case error(KafkaError)
}

/// The outcome of one produced record, reported by librdkafka.
public struct KafkaDeliveryReport: Sendable {
    /// The tag passed to `send`, to match the report to the record.
    public var tag: UInt64
    public var topic: String
    public var partition: Int32
    /// The record's offset, on success.
    public var offset: Int64?
    public var error: KafkaError?
    /// On failure, what was sent (to dead-letter it in another form).
    public var record: KafkaProducedRecord?
    public var isSuccess: Bool { error == nil }
}

/// A record as it was handed to the producer.
public struct KafkaProducedRecord: Sendable {
    public var topic: String
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]

    public init(topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader]) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
    }

    public func header(_ name: String) -> String? { headers.first { $0.name == name }?.stringValue }
}
