import CRdKafka
import Logging

/// Owns one `rd_kafka_t` and destroys it exactly once; every C call on a handle goes through here.
///
/// `@unchecked Sendable`: librdkafka handles are thread-safe for the calls made here, `callbacks`
/// is itself safe to share (see `RDKafkaCallbacks`), and the topic-name cache is used only by
/// `consumerPoll`, which only the consumer's polling thread calls (see `KafkaConsumer`).
final class RDKafkaClient: @unchecked Sendable {
    enum Kind { case consumer, producer }

    let handle: OpaquePointer
    let kind: Kind
    /// Outlives `handle`: deinit destroys the handle before stored properties are released.
    let callbacks: RDKafkaCallbacks
    var logger: Logger { callbacks.logger }

    private init(handle: OpaquePointer, kind: Kind, callbacks: RDKafkaCallbacks) {
        self.handle = handle
        self.kind = kind
        self.callbacks = callbacks
    }

    static func make(kind: Kind, properties: [(String, String)], callbacks: RDKafkaCallbacks) throws(KafkaError) -> RDKafkaClient {
        let conf = try RDKafkaConfig.make(properties)
        callbacks.install(on: conf, consumer: kind == .consumer, producer: kind == .producer)
        var errstr = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(kind == .consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)  // Only freed by us when rd_kafka_new fails.
            let reason = String(cChars: errstr)
            throw KafkaError(code: .clientCreation, message: "rd_kafka_new: \(reason)")
        }
        if kind == .consumer { _ = rd_kafka_poll_set_consumer(handle) }
        if callbacks.oauthBearer != nil, let error = rd_kafka_sasl_background_callbacks_enable(handle) {
            let e = KafkaError.consuming(error, "OAUTHBEARER background refresh")
            rd_kafka_destroy(handle)
            throw e
        }
        return RDKafkaClient(handle: handle, kind: kind, callbacks: callbacks)
    }

    deinit { rd_kafka_destroy(handle) }

    func throwIfFatal() throws(KafkaError) {
        guard callbacks.hasFatalError.load(ordering: .acquiring) else { return }
        if let e = callbacks.fatalError.withLock({ $0 }) { throw e }
    }

    // MARK: consumer

    func subscribe(_ topics: [String]) throws(KafkaError) {
        try RDKafkaTopicPartitionList.with(topics.map { KafkaTopicPartitionOffset(KafkaTopicPartition($0, -1), .invalid) }) { list throws(KafkaError) in
            try KafkaError.check(rd_kafka_subscribe(handle, list), "subscribe \(topics)")
        }
    }

    /// Replaces the assignment outright (no group protocol): for readers that pick partitions themselves.
    func assign(_ offsets: [KafkaTopicPartitionOffset]?) throws(KafkaError) {
        guard let offsets else {
            try KafkaError.check(rd_kafka_assign(handle, nil), "unassign")
            return
        }
        try RDKafkaTopicPartitionList.with(offsets) { list throws(KafkaError) in
            try KafkaError.check(rd_kafka_assign(handle, list), "assign")
        }
    }

    func consumerPoll(timeoutMilliseconds: Int32) throws(KafkaError) -> KafkaConsumerEvent? {
        try throwIfFatal()
        guard let m = rd_kafka_consumer_poll(handle, timeoutMilliseconds) else { return nil }
        let err = m.pointee.err
        if err == RD_KAFKA_RESP_ERR_NO_ERROR { return .message(KafkaMessage(box: RDKafkaMessageBox(m, topic: topicName(m.pointee.rkt), client: self))) }
        defer { rd_kafka_message_destroy(m) }
        let topic = topicName(m.pointee.rkt)
        if err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
            return .endOfPartition(KafkaTopicPartition(topic, m.pointee.partition), offset: m.pointee.offset)
        }
        let text = rd_kafka_message_errstr(m).map { String(cString: $0) } ?? ""
        let error = KafkaError(code: .rd(err), message: "consume \(topic)[\(m.pointee.partition)]: \(text)",
                               isFatal: err == RD_KAFKA_RESP_ERR__FATAL)
        if error.isFatal { throw error }
        return .error(error)
    }

    /// The topic's name, made once per topic handle: a consumer reads a few topics, and a new
    /// `String` per record was a heap allocation for every name over 15 bytes. Only the polling
    /// thread calls it.
    private func topicName(_ rkt: OpaquePointer?) -> String {
        guard let rkt else { return "" }
        if let known = topicNames.first(where: { $0.handle == rkt }) { return known.name }
        let name = String(cString: rd_kafka_topic_name(rkt))
        topicNames.append((rkt, name))
        return name
    }
    // A topic handle lives as long as the client (librdkafka keeps the topics it has seen).
    // Unchecked exclusivity: one short access per record on the polling thread (the run-time check cost more than the lookup).
    @exclusivity(unchecked) private var topicNames: [(handle: OpaquePointer, name: String)] = []

    func commit(_ offsets: [KafkaTopicPartitionOffset], async: Bool) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        try RDKafkaTopicPartitionList.with(offsets) { list throws(KafkaError) in
            try KafkaError.check(rd_kafka_commit(handle, list, async ? 1 : 0), "commit")
            if !async, let e = RDKafkaTopicPartitionList.firstError(list, "commit") { throw e }
        }
    }

    func committed(_ partitions: [KafkaTopicPartition], timeoutMilliseconds: Int32) throws(KafkaError) -> [KafkaTopicPartitionOffset] {
        try RDKafkaTopicPartitionList.with(partitions.map { KafkaTopicPartitionOffset($0, .invalid) }) { list throws(KafkaError) in
            try KafkaError.check(rd_kafka_committed(handle, list, Int32(timeoutMilliseconds)), "committed")
            return RDKafkaTopicPartitionList.read(list)
        }
    }

    func position(_ partitions: [KafkaTopicPartition]) throws(KafkaError) -> [KafkaTopicPartitionOffset] {
        try RDKafkaTopicPartitionList.with(partitions.map { KafkaTopicPartitionOffset($0, .invalid) }) { list throws(KafkaError) in
            try KafkaError.check(rd_kafka_position(handle, list), "position")
            return RDKafkaTopicPartitionList.read(list)
        }
    }

    func seek(_ offsets: [KafkaTopicPartitionOffset], timeoutMilliseconds: Int32) throws(KafkaError) {
        try RDKafkaTopicPartitionList.with(offsets) { list throws(KafkaError) in
            try KafkaError.check(rd_kafka_seek_partitions(handle, list, timeoutMilliseconds), "seek")
            if let e = RDKafkaTopicPartitionList.firstError(list, "seek") { throw e }
        }
    }

    func pause(_ partitions: [KafkaTopicPartition], resume: Bool) throws(KafkaError) {
        guard !partitions.isEmpty else { return }
        try RDKafkaTopicPartitionList.with(partitions.map { KafkaTopicPartitionOffset($0, .invalid) }) { list throws(KafkaError) in
            try KafkaError.check(resume ? rd_kafka_resume_partitions(handle, list) : rd_kafka_pause_partitions(handle, list),
                                 resume ? "resume" : "pause")
        }
    }

    func assignment() throws(KafkaError) -> [KafkaTopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        try KafkaError.check(rd_kafka_assignment(handle, &list), "assignment")
        guard let list else { return [] }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return RDKafkaTopicPartitionList.read(list).map(\.topicPartition)
    }

    func watermarks(_ tp: KafkaTopicPartition, cached: Bool, timeoutMilliseconds: Int32) throws(KafkaError) -> KafkaWatermarks {
        var low: Int64 = -1, high: Int64 = -1
        let err = cached
            ? rd_kafka_get_watermark_offsets(handle, tp.topic, tp.partition, &low, &high)
            : rd_kafka_query_watermark_offsets(handle, tp.topic, tp.partition, &low, &high, timeoutMilliseconds)
        try KafkaError.check(err, "watermarks \(tp)")
        return KafkaWatermarks(low: low, high: high)
    }

    func consumerClose() throws(KafkaError) {
        try KafkaError.check(rd_kafka_consumer_close(handle), "consumer close")
    }

    /// Lends the consumer's group metadata (for transactions); destroyed after `body`.
    func withGroupMetadata<R>(_ body: (OpaquePointer) throws(KafkaError) -> R) throws(KafkaError) -> R {
        guard let md = rd_kafka_consumer_group_metadata(handle) else {
            throw KafkaError(code: .clientCreation, message: "no consumer group metadata")
        }
        defer { rd_kafka_consumer_group_metadata_destroy(md) }
        return try body(md)
    }

    func memberID() -> String? {
        guard let p = rd_kafka_memberid(handle) else { return nil }
        defer { rd_kafka_mem_free(handle, p) }
        return String(cString: p)
    }

    // MARK: producer

    func produce(topic: String, partition: Int32?, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
                 headers: [KafkaHeader], timestampMilliseconds: Int64?, tag: UInt64) -> KafkaError? {
        let names = headers.map { strdup($0.name) }
        defer { names.forEach { free($0) } }
        let values = headers.map { h -> UnsafeMutableRawPointer? in
            guard let v = h.value else { return nil }
            let p = malloc(max(v.count, 1))!
            v.withUnsafeBytes { if !$0.isEmpty { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            return p
        }
        defer { values.forEach { free($0) } }
        let sizes = headers.map { $0.value?.count ?? -1 }
        let namePtrs = names.map { UnsafePointer<CChar>($0) }
        let valuePtrs = values.map { UnsafeRawPointer($0) }
        let error: OpaquePointer? = namePtrs.withUnsafeBufferPointer { np in
            valuePtrs.withUnsafeBufferPointer { vp in
                sizes.withUnsafeBufferPointer { sp in
                    tt_produce(handle, topic, partition ?? -1,  // -1: RD_KAFKA_PARTITION_UA, partition by key
                               key?.baseAddress, key?.count ?? 0, value?.baseAddress, value?.count ?? 0,
                               np.baseAddress, vp.baseAddress, sp.baseAddress, headers.count,
                               timestampMilliseconds ?? 0, tt_tag_pointer(tag))
                }
            }
        }
        if let error { return KafkaError.consuming(error, "produce to \(topic)") }
        return nil
    }

    @discardableResult
    func poll(timeoutMilliseconds: Int32) -> Int32 { rd_kafka_poll(handle, timeoutMilliseconds) }

    func flush(timeoutMilliseconds: Int32) throws(KafkaError) {
        try KafkaError.check(rd_kafka_flush(handle, timeoutMilliseconds), "flush")
    }

    var outQueueLength: Int32 { rd_kafka_outq_len(handle) }

    func initTransactions(timeoutMilliseconds: Int32) throws(KafkaError) {
        try KafkaError.check(rd_kafka_init_transactions(handle, timeoutMilliseconds), "init transactions")
    }
    func beginTransaction() throws(KafkaError) {
        try KafkaError.check(rd_kafka_begin_transaction(handle), "begin transaction")
    }
    func sendOffsetsToTransaction(_ offsets: [KafkaTopicPartitionOffset], consumer: RDKafkaClient, timeoutMilliseconds: Int32) throws(KafkaError) {
        try consumer.withGroupMetadata { md throws(KafkaError) in
            try RDKafkaTopicPartitionList.with(offsets) { list throws(KafkaError) in
                try KafkaError.check(rd_kafka_send_offsets_to_transaction(handle, list, md, timeoutMilliseconds), "send offsets to transaction")
            }
        }
    }
    func commitTransaction(timeoutMilliseconds: Int32) throws(KafkaError) {
        try KafkaError.check(rd_kafka_commit_transaction(handle, timeoutMilliseconds), "commit transaction")
    }
    func abortTransaction(timeoutMilliseconds: Int32) throws(KafkaError) {
        try KafkaError.check(rd_kafka_abort_transaction(handle, timeoutMilliseconds), "abort transaction")
    }

    // MARK: metadata and admin

    /// Partition counts of the topics that exist, from a metadata request.
    func partitionCounts(timeoutMilliseconds: Int32) throws(KafkaError) -> [String: Int] {
        var md: UnsafePointer<rd_kafka_metadata>?
        try KafkaError.check(rd_kafka_metadata(handle, 1, nil, &md, timeoutMilliseconds), "metadata")
        guard let md else { return [:] }
        defer { rd_kafka_metadata_destroy(md) }
        var out: [String: Int] = [:]
        for i in 0..<Int(md.pointee.topic_cnt) {
            let t = md.pointee.topics[i]
            if t.err == RD_KAFKA_RESP_ERR_NO_ERROR { out[String(cString: t.topic)] = Int(t.partition_cnt) }
        }
        return out
    }

    /// Creates topics; returns per-topic errors (nil for created, or already existing when `ifNotExists`).
    func createTopics(_ topics: [KafkaTopicSpec], timeoutMilliseconds: Int32) throws(KafkaError) -> [String: KafkaError] {
        var newTopics: [OpaquePointer?] = []
        defer { newTopics.forEach { if let t = $0 { rd_kafka_NewTopic_destroy(t) } } }
        var errstr = [CChar](repeating: 0, count: 512)
        for spec in topics {
            guard let nt = rd_kafka_NewTopic_new(spec.name, Int32(spec.partitions), Int32(spec.replicationFactor), &errstr, errstr.count) else {
                throw KafkaError(code: .invalidConfiguration, message: "topic \(spec.name): \(String(cChars: errstr))")
            }
            newTopics.append(nt)
            for (k, v) in spec.config.sorted(by: { $0.key < $1.key }) {
                try KafkaError.check(rd_kafka_NewTopic_set_config(nt, k, v), "topic \(spec.name) config \(k)")
            }
        }
        let queue = rd_kafka_queue_new(handle)!
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)!
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMilliseconds, nil, 0)
        newTopics.withUnsafeMutableBufferPointer { rd_kafka_CreateTopics(handle, $0.baseAddress, $0.count, options, queue) }
        guard let event = rd_kafka_queue_poll(queue, timeoutMilliseconds + 1000) else {
            throw KafkaError(code: .timedOut, message: "create topics: no answer in \(timeoutMilliseconds) ms")
        }
        defer { rd_kafka_event_destroy(event) }
        try KafkaError.check(rd_kafka_event_error(event), "create topics")
        guard let result = rd_kafka_event_CreateTopics_result(event) else { return [:] }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return [:] }
        var errors: [String: KafkaError] = [:]
        for i in 0..<count {
            let r = results[i]
            let err = rd_kafka_topic_result_error(r)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                let name = String(cString: rd_kafka_topic_result_name(r))
                let msg = rd_kafka_topic_result_error_string(r).map { String(cString: $0) } ?? ""
                errors[name] = KafkaError(code: .rd(err), message: "create topic \(name): \(msg)")
            }
        }
        return errors
    }
}

/// librdkafka's runtime version (the shared library actually loaded, not the headers').
public enum Librdkafka {
    public static var version: String { String(cString: rd_kafka_version_str()) }
    public static var versionNumber: Int32 { rd_kafka_version() }
    /// Below 2.2 librdkafka mis-skips tagged protocol fields (librdkafka PR #4278).
    public static var hasTaggedFieldsDefect: Bool { versionNumber < 0x0202_00ff }
}
