/// Time and output settings of `WindowedDetector`, around the rule itself.
public struct DetectorConfiguration: Sendable, Hashable {
    public var rule: RuleConfiguration = .seed
    /// Watermark = highest event time - this (derived mode). CloudTrail's delivery delay is the knob.
    public var maxOutOfOrderness: Duration = .seconds(300)
    /// A fired window stays updatable this long (in watermark time); later events are late.
    public var allowedLateness: Duration = .zero
    /// Idle advance after this much wall-clock silence on a caught-up partition; nil disables it.
    public var idleTimeout: Duration? = .seconds(30)
    /// An input partition that has never yielded an event stops holding the detect watermark back
    /// once it has been idle this long, even while others are active (it may never get data); nil:
    /// ten times `idleTimeout`. Until then its first events, which may be old, are waited for.
    public var emptyPartitionTimeout: Duration?
    /// `emptyPartitionTimeout`, else ten times `idleTimeout` (30 s when that is off).
    public var effectiveEmptyPartitionTimeout: Duration { emptyPartitionTimeout ?? (idleTimeout ?? .seconds(30)) * 10 }
    /// An event time more than this ahead of the wall clock is refused (dead-lettered): it would move
    /// a watermark into the future, fire every open window early and make later events late. Restored
    /// and upstream watermarks beyond the same bound are refused too.
    public var maxFutureSkew: Duration = .seconds(900)
    /// At most one `open` revision per this much EVENT time of the window's own data, so that a
    /// replay reproduces the same revisions with the same content.
    public var updateInterval: Duration = .seconds(60)
    /// False: only `final` alerts (revision 1).
    public var emitOpenAlerts = true
    public var evidenceLimits = EvidenceLimits()
    /// Most (grouping key, window) pairs one detector holds. At the bound a new pair is refused
    /// (`ProcessOutcome.refused`, counted) while the pairs held keep collecting and alerting, so
    /// memory stays bounded whatever the input: a principal first seen while the state is full is
    /// not tracked in that window (lost recall, visible in the metrics), until windows close.
    public var maxWindows = 1_000_000
    /// `rule.suppression`: later windows update one incident (off by default).
    public var suppression = SuppressionConfiguration()
    /// Mode of a partition first seen through `process` (see `WindowedDetector.assign`).
    public var defaultWatermarkMode: WatermarkMode = .boundedOutOfOrderness

    public init(rule: RuleConfiguration = .seed) { self.rule = rule }
}

/// Bounds on what one window keeps, so one hostile principal cannot exhaust memory.
///
/// Lists keep their smallest values (a deterministic choice, independent of arrival order); their
/// counts stay exact because every value past the bound is remembered as a 64-bit fingerprint, up
/// to `distinctTrackingLimit` fingerprints per list (8 MB-ish at the default), past which the count
/// is a lower bound and `source_addresses.count_exact` says so.
public struct EvidenceLimits: Sendable, Hashable {
    public var sourceAddresses = 100
    public var accessKeyIds = 20
    public var userAgents = 20
    public var eventSources = 20
    public var eventNames = 50
    public var awsRegions = 20
    public var sampleEventIDs = 10
    public var inputRanges = 16
    public var distinctTrackingLimit = 1_000_000

    public init() {}
}
