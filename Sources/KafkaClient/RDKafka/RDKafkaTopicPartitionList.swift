import CRdKafka

/// Conversions between `rd_kafka_topic_partition_list_t` and Swift values. The list pointer is
/// only ever lent to closures; it never escapes them.
enum RDKafkaTopicPartitionList {
    /// Builds a list, lends it to `body` (do not let it escape), then destroys it.
    static func with<R>(
        _ entries: [KafkaTopicPartitionOffset], _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws(KafkaError) -> R
    ) throws(KafkaError) -> R {
        let list = rd_kafka_topic_partition_list_new(Int32(max(entries.count, 1)))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for e in entries {
            let tp = rd_kafka_topic_partition_list_add(list, e.topic, e.partition)!
            tp.pointee.offset = e.offset.rawValue
            if let m = e.metadata {
                // The list frees metadata with free(): allocate it with malloc.
                let bytes = Array(m.utf8)
                let mem = malloc(max(bytes.count, 1))!
                bytes.withUnsafeBytes { mem.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
                tp.pointee.metadata = mem
                tp.pointee.metadata_size = bytes.count
            }
        }
        return try body(list)
    }

    static func read(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [KafkaTopicPartitionOffset] {
        (0..<Int(list.pointee.cnt)).map { i in
            let tp = list.pointee.elems[i]
            var metadata: String?
            if let m = tp.metadata, tp.metadata_size > 0 {
                metadata = String(decoding: UnsafeRawBufferPointer(start: m, count: tp.metadata_size), as: UTF8.self)
            }
            return KafkaTopicPartitionOffset(
                KafkaTopicPartition(String(cString: tp.topic), tp.partition), KafkaOffset(tp.offset), metadata: metadata)
        }
    }

    /// Per-partition errors in a list (e.g. after a commit), as the first error found.
    static func firstError(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>, _ context: String) -> KafkaError? {
        for i in 0..<Int(list.pointee.cnt) where list.pointee.elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let tp = list.pointee.elems[i]
            return KafkaError.rd(tp.err, "\(context) \(String(cString: tp.topic))[\(tp.partition)]")
        }
        return nil
    }
}
