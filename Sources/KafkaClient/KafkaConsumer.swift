public import Logging

/// A consumer-group member that commits its own offsets.
///
/// Drive it from one dedicated thread (`poll`, `close`, and the rebalance listener all run there):
/// librdkafka's calls block, and Swift's cooperative pool must never be blocked
/// (swift-kafka-client issue #165). Other methods are safe from any thread.
///
/// `@unchecked Sendable`: the only state is the immutable `RDKafkaClient` (thread-safe, see there)
/// and `closed`, which is guarded by librdkafka's own close semantics (close is idempotent here).
public final class KafkaConsumer: @unchecked Sendable {
    let client: RDKafkaClient
    public let configuration: KafkaConsumerConfiguration
    private var closed = false

    public init(
        configuration: KafkaConsumerConfiguration, logger: Logger,
        statistics: (@Sendable (String) -> Void)? = nil
    ) throws(KafkaError) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: LogKeys.groupID] = "\(configuration.groupID)"
        client = try RDKafkaClient.make(
            kind: .consumer, properties: configuration.librdkafkaProperties,
            callbacks: RDKafkaCallbacks(logger: logger, statistics: statistics, deliveryReport: nil,
                                        oauthBearer: configuration.common.oauthBearerTokenProvider))
    }

    deinit {
        // Closing serves the final revoke and leaves the group; without it peers wait a session timeout.
        if !closed { try? client.consumerClose() }
    }

    /// The listener is held weakly; set it before `subscribe`.
    public var rebalanceListener: (any KafkaRebalanceListener)? {
        get { client.callbacks.rebalanceListener }
        set { client.callbacks.rebalanceListener = newValue }
    }

    public func subscribe(topics: [String]) throws(KafkaError) { try client.subscribe(topics) }

    /// Reads exactly these partitions from these offsets, outside the group protocol (nil: none).
    public func assign(_ offsets: [KafkaTopicPartitionOffset]?) throws(KafkaError) { try client.assign(offsets) }

    /// Waits up to `timeout` for the next message, end-of-partition event or error.
    /// Rebalance callbacks run inside this call. Throws on a fatal error.
    public func poll(timeout: Duration = .milliseconds(100)) throws(KafkaError) -> KafkaConsumerEvent? {
        try client.consumerPoll(timeoutMilliseconds: Int32(timeout.milliseconds))
    }

    /// Commits `offsets` (each the offset of the *next* record to read: last processed + 1).
    public func commit(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) { try client.commit(offsets, async: false) }
    /// Sends a commit without waiting for the broker's answer.
    public func commitAsync(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) { try client.commit(offsets, async: true) }

    /// The group's committed offsets (`.invalid` where none), with metadata where the broker keeps it.
    public func committed(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) throws(KafkaError) -> [KafkaTopicPartitionOffset] {
        try client.committed(partitions, timeoutMilliseconds: Int32(timeout.milliseconds))
    }

    /// The offset of the next record this consumer will fetch, per partition (`.invalid` before the first fetch).
    public func position(_ partitions: [KafkaTopicPartition]) throws(KafkaError) -> [KafkaTopicPartitionOffset] {
        try client.position(partitions)
    }

    public func seek(_ offsets: [KafkaTopicPartitionOffset], timeout: Duration = .seconds(10)) throws(KafkaError) {
        try client.seek(offsets, timeoutMilliseconds: Int32(timeout.milliseconds))
    }

    public func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) { try client.pause(partitions, resume: false) }
    public func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) { try client.pause(partitions, resume: true) }

    public func assignment() throws(KafkaError) -> [KafkaTopicPartition] { try client.assignment() }

    /// Low and high watermarks. `cached: true` answers from the last fetch without a broker round trip.
    public func watermarks(_ tp: KafkaTopicPartition, cached: Bool = false, timeout: Duration = .seconds(10)) throws(KafkaError) -> KafkaWatermarks {
        try client.watermarks(tp, cached: cached, timeoutMilliseconds: Int32(timeout.milliseconds))
    }

    public var memberID: String? { client.memberID() }

    /// Serves the final revoke (the listener commits there), leaves the group, stops fetching.
    /// Call it on the polling thread.
    public func close() throws(KafkaError) {
        guard !closed else { return }
        closed = true
        try client.consumerClose()
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (s, a) = components
        return s * 1000 + a / 1_000_000_000_000_000
    }
}
