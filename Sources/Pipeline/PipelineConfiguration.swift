public import CloudTrail
public import Detection
public import KafkaClient

/// At-least-once (a crash may repeat an alert, with the same id and revision) or exactly-once
/// (transactions: a `read_committed` reader sees each alert id and revision once).
public enum ProcessingGuarantee: String, Sendable, Hashable, CaseIterable {
    case atLeastOnce = "at_least_once"
    case exactlyOnce = "exactly_once"
}

/// Everything `tokentrail run` needs; `tokentrail` fills it from the config file, environment and flags.
public struct PipelineConfiguration: Sendable {
    public var kafka: KafkaConfiguration
    public var inputTopics: [String]
    public var outputTopic: String
    /// How alert records are written (`output.format`).
    public var alertFormat: AlertFormat = .native
    public var groupID: String
    public var deadLetterTopic: String
    /// Route stage output, detect stage input (unkeyed input only). Default: `<group>.repartition`.
    public var repartitionTopic: String?
    /// Per-partition `{safe offset, watermark, ...}` records. Default: `<group>.checkpoints`.
    public var checkpointTopic: String?
    /// Input already keyed by the grouping key: no route stage, no repartition topic.
    public var inputKeyed: Bool
    public var processingGuarantee: ProcessingGuarantee
    /// How often offsets (and checkpoints, and transactions) are committed.
    public var commitInterval: Duration
    /// How often watermark markers are broadcast and timers (idle advance, open updates) run.
    public var tickInterval: Duration
    /// Consumer group session timeout.
    public var sessionTimeoutMilliseconds: Int
    /// Stable per process across restarts: part of the transactional id in exactly-once mode.
    public var instanceID: String
    /// Partitions for topics tokentrail creates (0: as many as the input has).
    public var createdTopicPartitions: Int
    public var createdTopicReplicationFactor: Int
    /// `retention.ms` for topics tokentrail creates.
    public var createdTopicRetentionMilliseconds: Int64
    public var detector: DetectorConfiguration
    /// GeoIP lookups for the rule (route stage, or detect stage on keyed input); nil: none.
    public var enricher: (any AddressEnricher)?
    /// The rule as built for the run (`tokentrail run` builds it once, with the enricher); nil: built
    /// from `detector.rule` and `enricher`.
    public var rule: DetectionRule?
    public var decoderLimits: CloudTrailDecoder.Limits
    /// Largest dead-lettered value; larger records are cut to this (with a header saying so).
    public var deadLetterMaxBytes: Int
    /// Skip events that cannot match the rule after a glance at a few fields, unread. Faster, but a
    /// malformed event that cannot match is then dropped instead of dead-lettered; off by default.
    public var prefilter: Bool
    /// Receives librdkafka's statistics JSON from the consumer and the producer, every
    /// `statistics.interval.ms` (a `kafka` property; librdkafka sends none while it is 0, the default).
    public var statistics: (@Sendable (String) -> Void)?
    /// Which of the process's pipelines this is (setting `threads`): each pipeline is a consumer-group
    /// member of its own, with its own consumer, producer and thread, like a Kafka Streams stream thread.
    public var threadIndex: Int

    public init(
        kafka: KafkaConfiguration = KafkaConfiguration(), inputTopics: [String] = ["cloudtrail"],
        outputTopic: String = "tokentrail.alerts", groupID: String = "tokentrail",
        deadLetterTopic: String = "tokentrail.dead-letter", inputKeyed: Bool = false,
        processingGuarantee: ProcessingGuarantee = .atLeastOnce, instanceID: String = "tokentrail-0",
        detector: DetectorConfiguration = DetectorConfiguration()
    ) {
        self.kafka = kafka
        self.inputTopics = inputTopics
        self.outputTopic = outputTopic
        self.groupID = groupID
        self.deadLetterTopic = deadLetterTopic
        self.inputKeyed = inputKeyed
        self.processingGuarantee = processingGuarantee
        self.commitInterval = .seconds(2)
        self.tickInterval = .milliseconds(500)
        self.sessionTimeoutMilliseconds = 45_000
        self.instanceID = instanceID
        self.createdTopicPartitions = 0
        self.createdTopicReplicationFactor = 1
        self.createdTopicRetentionMilliseconds = 7 * 24 * 3_600_000
        self.detector = detector
        self.decoderLimits = CloudTrailDecoder.Limits()
        self.deadLetterMaxBytes = 900_000
        self.prefilter = false
        self.statistics = nil
        self.threadIndex = 0
    }

    /// `<group>-<instance>` for thread 0 (as before threads existed), `<group>-<instance>#<i>` for
    /// thread i: stable across restarts, so a restarted process fences its own zombies, and unique
    /// per thread (a host name cannot contain `#`).
    public var transactionalID: String {
        threadIndex == 0 ? "\(groupID)-\(instanceID)" : "\(groupID)-\(instanceID)#\(threadIndex)"
    }

    public var effectiveRepartitionTopic: String { repartitionTopic ?? "\(groupID).repartition" }
    public var effectiveCheckpointTopic: String { checkpointTopic ?? "\(groupID).checkpoints" }
}
