public import CloudTrail

/// A half-open event-time window `[start, end)`, as in Flink's `TimeWindow`.
public struct TimeWindow: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var start: EventTime
    public var end: EventTime

    public init(start: EventTime, end: EventTime) {
        self.start = start
        self.end = end
    }

    public func contains(_ time: EventTime) -> Bool { start <= time && time < end }

    public static func < (a: TimeWindow, b: TimeWindow) -> Bool { (a.start, a.end) < (b.start, b.end) }

    public var description: String { "[\(start), \(end))" }
}

/// Tumbling windows aligned to the Unix epoch (Flink's `TumblingEventTimeWindows` with offset 0):
/// the same instant falls in the same window on every instance, which keeps alert ids stable.
public struct TumblingEventTimeWindows: Sendable, Hashable {
    public let sizeMilliseconds: Int64

    public init(size: Duration) {
        sizeMilliseconds = max(1, size.milliseconds)
    }

    public func assignWindow(to time: EventTime) -> TimeWindow {
        let t = time.millisecondsSinceEpoch
        var start = t - t % sizeMilliseconds
        if t < 0, start != t { start -= sizeMilliseconds }
        return TimeWindow(
            start: EventTime(millisecondsSinceEpoch: start),
            end: EventTime(millisecondsSinceEpoch: start + sizeMilliseconds)
        )
    }
}

extension EventTime {
    /// Event times the detector accepts: 1970-01-01 up to 9998-01-01. Anything else is a forged or
    /// broken record; window arithmetic and RFC 3339 years stay far from overflow inside it.
    public static let acceptedRange = EventTime(millisecondsSinceEpoch: 0)..<EventTime(millisecondsSinceEpoch: 253_370_764_800_000)
}

extension Duration {
    /// Whole milliseconds (truncated), the unit of `EventTime`.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

extension EventTime {
    static func + (time: EventTime, duration: Duration) -> EventTime {
        EventTime(millisecondsSinceEpoch: time.millisecondsSinceEpoch + duration.milliseconds)
    }

    static func - (time: EventTime, duration: Duration) -> EventTime {
        EventTime(millisecondsSinceEpoch: time.millisecondsSinceEpoch - duration.milliseconds)
    }
}

extension Dictionary {
    /// The index of `key`'s value, inserting `make()` first when there is none: one lookup when the key
    /// is there, and the value can then be changed in place (`values[index]`) rather than taken out and
    /// put back, which hashes the key twice and moves the value twice.
    @inlinable
    package mutating func index(forKey key: Key, insertingIfAbsent make: () -> Value) -> Index {
        if let index = index(forKey: key) { return index }
        self[key] = make()
        return index(forKey: key)!
    }
}
