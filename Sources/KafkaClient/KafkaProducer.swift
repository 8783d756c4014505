import Foundation
public import Logging
import Synchronization

/// An idempotent (optionally transactional) producer with a delivery report per record.
///
/// A dedicated thread serves librdkafka's delivery reports; `deliveryReport` runs there.
///
/// `@unchecked Sendable`: the C handle is thread-safe; `stopping` is atomic; the poll thread is
/// joined in `close()` (or `deinit`) before the handle is destroyed.
public final class KafkaProducer: @unchecked Sendable {
    let client: RDKafkaClient
    public let configuration: KafkaProducerConfiguration
    private let stopping = StopFlag()
    private let pollerDone = DispatchSemaphore(value: 0)
    private let closedOnce = Mutex(false)

    public init(
        configuration: KafkaProducerConfiguration, logger: Logger,
        statistics: (@Sendable (String) -> Void)? = nil,
        deliveryReport: @escaping @Sendable (KafkaDeliveryReport) -> Void = { _ in }
    ) throws(KafkaError) {
        self.configuration = configuration
        client = try RDKafkaClient.make(
            kind: .producer, properties: configuration.librdkafkaProperties,
            callbacks: RDKafkaCallbacks(logger: logger, statistics: statistics, deliveryReport: deliveryReport,
                                        oauthBearer: configuration.common.oauthBearerTokenProvider))
        let client = self.client, stopping = self.stopping, done = self.pollerDone
        let thread = Thread {
            while !stopping.isSet { client.poll(timeoutMilliseconds: 100) }
            done.signal()
        }
        thread.name = "tokentrail-producer-poll"
        thread.start()
    }

    deinit { stopPoller() }

    private func stopPoller() {
        let first = closedOnce.withLock { done in defer { done = true }; return !done }
        guard first else { return }
        stopping.set()
        pollerDone.wait()
    }

    /// Enqueues one record; `partition` nil partitions by key. When the local queue is full this
    /// waits for deliveries (backpressure) up to `queueFullTimeout`, then throws `.queueFull`.
    public func send(
        topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = [],
        timestampMilliseconds: Int64? = nil, tag: UInt64 = 0, queueFullTimeout: Duration = .seconds(30)
    ) throws(KafkaError) {
        let error: KafkaError? = key.withOptionalBytes { k in
            value.withOptionalBytes { v in
                sendBytes(topic: topic, partition: partition, key: k, value: v, headers: headers,
                          timestampMilliseconds: timestampMilliseconds, tag: tag, queueFullTimeout: queueFullTimeout)
            }
        }
        if let error { throw error }
    }

    /// As `send`, with borrowed key and value bytes (copied by librdkafka before this returns).
    public func sendBytes(
        topic: String, partition: Int32? = nil, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader] = [], timestampMilliseconds: Int64? = nil, tag: UInt64 = 0,
        queueFullTimeout: Duration = .seconds(30)
    ) -> KafkaError? {
        if let fatal = client.callbacks.fatalError.withLock({ $0 }) { return fatal }
        let deadline = ContinuousClock.now + queueFullTimeout
        while true {
            guard let error = client.produce(topic: topic, partition: partition, key: key, value: value, headers: headers,
                                             timestampMilliseconds: timestampMilliseconds, tag: tag) else { return nil }
            guard error.code == .queueFull, ContinuousClock.now < deadline else { return error }
            client.poll(timeoutMilliseconds: 10)
        }
    }

    /// Records handed to librdkafka and not yet reported delivered or failed.
    public var inFlightCount: Int { Int(client.outQueueLength) }

    /// Waits until every enqueued record has a delivery report, or throws `.timedOut`.
    public func flush(timeout: Duration) throws(KafkaError) {
        try client.flush(timeoutMilliseconds: Int32(clamping: timeout.milliseconds))
    }

    // MARK: transactions (require `transactionalID`)

    public func initTransactions(timeout: Duration = .seconds(30)) throws(KafkaError) {
        try client.initTransactions(timeoutMilliseconds: Int32(clamping: timeout.milliseconds))
    }
    public func beginTransaction() throws(KafkaError) { try client.beginTransaction() }
    /// Adds the consumer's offsets to the current transaction (committed with it, as the group's offsets).
    public func sendOffsetsToTransaction(_ offsets: [KafkaTopicPartitionOffset], consumer: KafkaConsumer, timeout: Duration = .seconds(30)) throws(KafkaError) {
        try client.sendOffsetsToTransaction(offsets, consumer: consumer.client, timeoutMilliseconds: Int32(clamping: timeout.milliseconds))
    }
    public func commitTransaction(timeout: Duration = .seconds(30)) throws(KafkaError) {
        try client.commitTransaction(timeoutMilliseconds: Int32(clamping: timeout.milliseconds))
    }
    public func abortTransaction(timeout: Duration = .seconds(30)) throws(KafkaError) {
        try client.abortTransaction(timeoutMilliseconds: Int32(clamping: timeout.milliseconds))
    }

    /// Flushes (up to `timeout`) and stops the delivery-report thread. Further sends fail.
    public func close(timeout: Duration = .seconds(30)) throws(KafkaError) {
        defer { stopPoller() }
        try flush(timeout: timeout)
    }
}

extension Optional where Wrapped == [UInt8] {
    func withOptionalBytes<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R {
        switch self {
        case .none: body(nil)
        case .some(let a): a.withUnsafeBytes { body($0) }
        }
    }
}

/// A one-way flag shared with the poll thread.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
