/// Settings shared by every client. Typed fields carry librdkafka's property names in their
/// doc comments; `properties` passes any other librdkafka property through unchanged
/// (TLS, SASL/SCRAM, OAUTHBEARER, `client.rack`, ...) and wins over the typed fields.
public struct KafkaConfiguration: Sendable {
    /// `bootstrap.servers`
    public var bootstrapServers: String
    /// `client.id`
    public var clientID: String
    /// `statistics.interval.ms`; nil disables librdkafka's statistics.
    public var statisticsIntervalMilliseconds: Int?
    /// Any librdkafka property, by librdkafka's name. Applied last.
    public var properties: [String: String]
    /// Tokens for `sasl.mechanism=OAUTHBEARER`, asked for on librdkafka's background thread, so
    /// consumers, producers and admin clients refresh whether or not anyone polls them. Nil leaves
    /// OAUTHBEARER to librdkafka's own properties (`sasl.oauthbearer.method=oidc`, ...).
    public var oauthBearerTokenProvider: KafkaOAuthBearerTokenProvider?

    public init(
        bootstrapServers: String = "127.0.0.1:9092", clientID: String = "tokentrail",
        statisticsIntervalMilliseconds: Int? = nil, properties: [String: String] = [:],
        oauthBearerTokenProvider: KafkaOAuthBearerTokenProvider? = nil
    ) {
        self.oauthBearerTokenProvider = oauthBearerTokenProvider
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.statisticsIntervalMilliseconds = statisticsIntervalMilliseconds
        self.properties = properties
    }

    var baseProperties: [(String, String)] {
        var p = [("bootstrap.servers", bootstrapServers), ("client.id", clientID)]
        if let s = statisticsIntervalMilliseconds { p.append(("statistics.interval.ms", String(s))) }
        return p
    }
}

/// A group member that commits its own offsets (auto-commit and auto offset store are off:
/// the pipeline commits only what its alerts and checkpoints cover).
public struct KafkaConsumerConfiguration: Sendable {
    public enum OffsetReset: String, Sendable { case earliest, latest, error }
    public enum IsolationLevel: String, Sendable {
        case readCommitted = "read_committed", readUncommitted = "read_uncommitted"
    }

    public var common: KafkaConfiguration
    /// `group.id`
    public var groupID: String
    /// `session.timeout.ms`
    public var sessionTimeoutMilliseconds: Int
    /// `max.poll.interval.ms`
    public var maxPollIntervalMilliseconds: Int
    /// `auto.offset.reset`
    public var autoOffsetReset: OffsetReset
    /// `isolation.level`
    public var isolationLevel: IsolationLevel
    /// `enable.partition.eof`: report when a partition is caught up (drives idle watermarks).
    public var reportEndOfPartition: Bool
    /// `partition.assignment.strategy`
    public var assignmentStrategy: String
    /// `fetch.queue.backoff.ms` (librdkafka >= 2.2; not set on older versions): how long a partition
    /// whose prefetch queue is full waits before it is fetched again. librdkafka's 1000 ms default
    /// starves a consumer that processes slower than the broker delivers: it drains its queue, then
    /// waits out the rest of the second with nothing to do (measured: docs/performance.md).
    public var fetchQueueBackoffMilliseconds: Int

    public init(
        common: KafkaConfiguration = KafkaConfiguration(), groupID: String,
        sessionTimeoutMilliseconds: Int = 45_000, maxPollIntervalMilliseconds: Int = 300_000,
        autoOffsetReset: OffsetReset = .earliest, isolationLevel: IsolationLevel = .readCommitted,
        reportEndOfPartition: Bool = true, assignmentStrategy: String = "cooperative-sticky",
        fetchQueueBackoffMilliseconds: Int = 50
    ) {
        self.common = common
        self.groupID = groupID
        self.sessionTimeoutMilliseconds = sessionTimeoutMilliseconds
        self.maxPollIntervalMilliseconds = maxPollIntervalMilliseconds
        self.autoOffsetReset = autoOffsetReset
        self.isolationLevel = isolationLevel
        self.reportEndOfPartition = reportEndOfPartition
        self.assignmentStrategy = assignmentStrategy
        self.fetchQueueBackoffMilliseconds = fetchQueueBackoffMilliseconds
    }

    /// The complete librdkafka property list, in the order applied (passthrough last).
    public var librdkafkaProperties: [(String, String)] {
        common.baseProperties + [
            ("group.id", groupID),
            ("session.timeout.ms", String(sessionTimeoutMilliseconds)),
            ("max.poll.interval.ms", String(maxPollIntervalMilliseconds)),
            ("auto.offset.reset", autoOffsetReset.rawValue),
            ("isolation.level", isolationLevel.rawValue),
            ("enable.partition.eof", reportEndOfPartition ? "true" : "false"),
            ("partition.assignment.strategy", assignmentStrategy),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
        ] + (Librdkafka.versionNumber >= 0x0202_0000 ? [("fetch.queue.backoff.ms", String(fetchQueueBackoffMilliseconds))] : [])
            + common.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// An idempotent producer by default; transactional when `transactionalID` is set.
public struct KafkaProducerConfiguration: Sendable {
    public var common: KafkaConfiguration
    /// `enable.idempotence`
    public var enableIdempotence: Bool
    /// `transactional.id`
    public var transactionalID: String?
    /// `transaction.timeout.ms`
    public var transactionTimeoutMilliseconds: Int
    /// `linger.ms`
    public var lingerMilliseconds: Int
    /// `message.max.bytes`
    public var messageMaxBytes: Int?
    /// `message.timeout.ms` (delivery timeout); 0 means retry forever.
    public var messageTimeoutMilliseconds: Int
    /// `compression.type`
    public var compression: String
    /// `queue.buffering.max.messages`: the local queue bound (backpressure starts here).
    public var queueBufferingMaxMessages: Int

    public init(
        common: KafkaConfiguration = KafkaConfiguration(), enableIdempotence: Bool = true,
        transactionalID: String? = nil, transactionTimeoutMilliseconds: Int = 60_000,
        lingerMilliseconds: Int = 5, messageMaxBytes: Int? = nil, messageTimeoutMilliseconds: Int = 300_000,
        compression: String = "lz4", queueBufferingMaxMessages: Int = 100_000
    ) {
        self.common = common
        self.enableIdempotence = enableIdempotence
        self.transactionalID = transactionalID
        self.transactionTimeoutMilliseconds = transactionTimeoutMilliseconds
        self.lingerMilliseconds = lingerMilliseconds
        self.messageMaxBytes = messageMaxBytes
        self.messageTimeoutMilliseconds = messageTimeoutMilliseconds
        self.compression = compression
        self.queueBufferingMaxMessages = queueBufferingMaxMessages
    }

    public var librdkafkaProperties: [(String, String)] {
        var p = common.baseProperties + [
            ("enable.idempotence", enableIdempotence ? "true" : "false"),
            ("linger.ms", String(lingerMilliseconds)),
            // librdkafka requires message.timeout.ms <= transaction.timeout.ms for transactional producers.
            ("message.timeout.ms", String(transactionalID == nil ? messageTimeoutMilliseconds
                                          : min(messageTimeoutMilliseconds, transactionTimeoutMilliseconds))),
            ("compression.type", compression),
            ("queue.buffering.max.messages", String(queueBufferingMaxMessages)),
        ]
        if let t = transactionalID {
            p.append(("transactional.id", t))
            p.append(("transaction.timeout.ms", String(transactionTimeoutMilliseconds)))
        }
        if let m = messageMaxBytes { p.append(("message.max.bytes", String(m))) }
        return p + common.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}
