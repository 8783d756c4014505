import CRdKafka

/// Owns one consumed `rd_kafka_message_t` and destroys it exactly once.
///
/// `@unchecked Sendable`: the message is never mutated after `rd_kafka_consumer_poll` returns it;
/// reads from any thread are safe, and only `deinit` (run once, by the last owner) destroys it.
final class RDKafkaMessageBox: @unchecked Sendable {
    private let message: UnsafeMutablePointer<rd_kafka_message_t>
    /// The topic's name, shared by the client's records of that topic.
    let topic: String
    /// The client the message came from, kept alive while the message is: `rd_kafka_destroy` waits
    /// until every message of its handle is destroyed, so a message that outlived its client blocked
    /// the thread destroying it for ever.
    private let client: AnyObject

    init(_ message: UnsafeMutablePointer<rd_kafka_message_t>, topic: String, client: AnyObject) {
        self.message = message
        self.topic = topic
        self.client = client
    }
    deinit { rd_kafka_message_destroy(message) }

    var partition: Int32 { message.pointee.partition }
    var offset: Int64 { message.pointee.offset }
    var timestamp: Int64? {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let t = rd_kafka_message_timestamp(message, &type)
        return type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : t
    }

    func withValue<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: message.pointee.payload, count: message.pointee.len))
    }

    func withKey<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard let k = message.pointee.key else { return try body(nil) }
        return try body(UnsafeRawBufferPointer(start: k, count: message.pointee.key_len))
    }

    func headers() -> [KafkaHeader] { Self.headers(of: message) }

    /// The headers of a message librdkafka owns (consumed, or in a delivery report).
    static func headers(of message: UnsafeMutablePointer<rd_kafka_message_t>) -> [KafkaHeader] {
        var hdrs: OpaquePointer?
        // The headers belong to the message: not destroyed here.
        guard rd_kafka_message_headers(message, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs else { return [] }
        var out: [KafkaHeader] = []
        var i = 0
        while true {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR, let name else { break }
            out.append(KafkaHeader(String(cString: name), value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }))
            i += 1
        }
        return out
    }
}
