public import Detection
public import KafkaClient

/// Running totals the pipeline keeps; the metrics endpoint and the shutdown summary read them.
public struct PipelineCounters: Sendable, Hashable {
    public var recordsConsumed = 0
    public var eventsDecoded = 0
    /// Events dropped by the decoder's pre-filter, unread.
    public var eventsPrefiltered = 0
    /// Events the rule rejected, by reason label.
    public var eventsRejected: [String: Int] = [:]
    public var observationsRouted = 0
    public var observationsProcessed = 0
    public var eventsLate = 0
    /// Events whose new window the detector refused at `state.max_windows`.
    public var windowsRefused = 0
    /// Bad events and records by reason (one dead-letter record per input record may count several).
    public var deadLettered: [String: Int] = [:]
    /// Watermarks refused (markers, checkpoints) by reason: unreadable, or beyond `time.max_future_skew`.
    public var watermarksRefused: [String: Int] = [:]
    public var alertsProduced: [String: Int] = [:]
    public var markersSent = 0
    public var commits = 0
    /// Exactly-once transactions aborted (and their partitions rewound) after a failure.
    public var transactionsAborted = 0
    public var rebalances = 0
    public init() {}
}

/// Where one owned partition stands, at a commit.
public struct PartitionProgress: Sendable, Hashable {
    public var partition: KafkaTopicPartition
    /// The event-time watermark (milliseconds since the epoch); nil before the first event.
    public var watermark: Int64?
    /// Records between the consumer's position and the end of the partition (from the last fetch);
    /// nil while unknown (no fetch answered yet).
    public var lag: Int64?
    public init(partition: KafkaTopicPartition, watermark: Int64?, lag: Int64?) {
        self.partition = partition
        self.watermark = watermark
        self.lag = lag
    }
}

/// What the pipeline hands to metrics and readiness after each commit.
public struct PipelineSnapshot: Sendable {
    public var counters: PipelineCounters
    public var owned: [KafkaTopicPartition]
    public var partitions: [PartitionProgress]
    public var detector: DetectorSummary
    /// How long the commit took (flush or transaction commit, checkpoints, offsets).
    public var commitDuration: Duration
    /// Open alerts acknowledged since the previous snapshot: from the consumption of the event that
    /// opened each (its first revision) to the broker's acknowledgement of the alert.
    public var openAlertLatencies: [Duration]
    /// The member has had an assignment from its group since it started (an empty one counts).
    public var joined: Bool
    public init(counters: PipelineCounters, owned: [KafkaTopicPartition], partitions: [PartitionProgress],
                detector: DetectorSummary, commitDuration: Duration, openAlertLatencies: [Duration] = [], joined: Bool = true) {
        self.counters = counters
        self.owned = owned
        self.partitions = partitions
        self.detector = detector
        self.commitDuration = commitDuration
        self.openAlertLatencies = openAlertLatencies
        self.joined = joined
    }
}

extension PipelineCounters {
    /// The totals of several pipelines together (a process's `threads`).
    public static func + (a: PipelineCounters, b: PipelineCounters) -> PipelineCounters {
        var c = a
        c.recordsConsumed += b.recordsConsumed
        c.eventsDecoded += b.eventsDecoded
        c.eventsPrefiltered += b.eventsPrefiltered
        c.eventsRejected.merge(b.eventsRejected, uniquingKeysWith: +)
        c.observationsRouted += b.observationsRouted
        c.observationsProcessed += b.observationsProcessed
        c.eventsLate += b.eventsLate
        c.windowsRefused += b.windowsRefused
        c.deadLettered.merge(b.deadLettered, uniquingKeysWith: +)
        c.watermarksRefused.merge(b.watermarksRefused, uniquingKeysWith: +)
        c.alertsProduced.merge(b.alertsProduced, uniquingKeysWith: +)
        c.markersSent += b.markersSent
        c.commits += b.commits
        c.transactionsAborted += b.transactionsAborted
        c.rebalances += b.rebalances
        return c
    }
}
