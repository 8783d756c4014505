public import CloudTrail

/// Flink's `BoundedOutOfOrderness` watermark with `withIdleness`, for one partition.
///
/// watermark = highest event time seen - `maxOutOfOrderness`, never decreasing. When the owner says
/// the partition is caught up (its position is the end of the log) and nothing has arrived for
/// `idleTimeout` of wall-clock time, the watermark follows the wall clock (now - `maxOutOfOrderness`)
/// so the last windows close when traffic stops. The route stage uses this directly for the
/// markers it broadcasts; `WindowedDetector` uses it for partitions in `.boundedOutOfOrderness` mode.
public struct BoundedOutOfOrdernessWatermarks: Sendable, Hashable {
    public let maxOutOfOrderness: Duration
    /// Nil disables idle advance.
    public let idleTimeout: Duration?
    public private(set) var maxEventTime: EventTime?
    public private(set) var watermark: EventTime?
    public private(set) var isCaughtUp = false
    /// Wall-clock time of the last event or of becoming caught up, whichever is later.
    public private(set) var lastActivity: EventTime?
    /// `maxOutOfOrderness` in milliseconds, for `onEvent` (converting a `Duration` per event is a
    /// call with 128-bit arithmetic).
    private let boundMilliseconds: Int64

    public init(maxOutOfOrderness: Duration = .seconds(300), idleTimeout: Duration? = .seconds(30)) {
        self.maxOutOfOrderness = maxOutOfOrderness
        self.idleTimeout = idleTimeout
        boundMilliseconds = maxOutOfOrderness.milliseconds
    }

    /// Flink `onEvent`: an event was read at wall-clock `now`. Returns the watermark if it advanced.
    @discardableResult
    public mutating func onEvent(_ time: EventTime, now: EventTime) -> EventTime? {
        lastActivity = now
        if maxEventTime.map({ time > $0 }) ?? true { maxEventTime = time }
        return advance(to: EventTime(millisecondsSinceEpoch: time.millisecondsSinceEpoch - boundMilliseconds))
    }

    /// Flink `onPeriodicEmit`: idle advance. Returns the watermark if it advanced.
    @discardableResult
    public mutating func onPeriodicEmit(now: EventTime) -> EventTime? {
        guard isCaughtUp, let idleTimeout, let lastActivity, now >= lastActivity + idleTimeout else { return nil }
        return advance(to: now - maxOutOfOrderness)
    }

    /// The owner's view of the partition's position: caught up means at the end of the log.
    public mutating func setCaughtUp(_ caughtUp: Bool, now: EventTime) {
        if caughtUp, !isCaughtUp { lastActivity = max(lastActivity ?? now, now) }
        isCaughtUp = caughtUp
    }

    /// Raises the watermark (restore, external markers); it never goes back.
    @discardableResult
    public mutating func advance(to candidate: EventTime) -> EventTime? {
        guard watermark.map({ candidate > $0 }) ?? true else { return nil }
        watermark = candidate
        return candidate
    }
}

/// Where a partition's watermark comes from.
public enum WatermarkMode: String, Sendable, Hashable {
    /// Derived from the partition's own events (keyed input): `BoundedOutOfOrdernessWatermarks`.
    case boundedOutOfOrderness = "bounded_out_of_orderness"
    /// Supplied by the caller through `advance(partition:externalWatermark:now:)` (repartition path:
    /// the minimum over input partitions of their latest marker). Events never move it, and idle
    /// advance is the upstream generator's job.
    case external
}

extension BoundedOutOfOrdernessWatermarks {
    /// Records wall-clock activity without an event time (external mode).
    mutating func setActivity(now: EventTime) {
        lastActivity = now
    }
}
