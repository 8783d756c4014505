import Logging

/// Warnings that input can cause (bad records, refused markers, a full state), rate-limited: the first
/// of each reason in an interval is logged with its details, the rest are counted and summed up in one
/// line per interval. A producer that writes garbage as fast as it can must not make a line per record.
struct RateLimitedWarnings {
    let interval: Duration
    private var windowStart: ContinuousClock.Instant?
    /// Reasons seen in the current interval, and how many were not logged.
    private var suppressed: [String: Int] = [:]

    init(interval: Duration = .seconds(10)) { self.interval = interval }

    /// Logs `message` unless this reason was logged already in this interval (then counts it).
    mutating func warning(_ logger: Logger, _ message: @autoclosure () -> Logger.Message, reason: String,
                          metadata: @autoclosure () -> Logger.Metadata) {
        let now = ContinuousClock.now
        flush(logger, now: now)
        if windowStart == nil { windowStart = now }
        if let n = suppressed[reason] {
            suppressed[reason] = n + 1
        } else {
            suppressed[reason] = 0
            var m = metadata()
            m["reason"] = "\(reason)"
            logger.warning(message(), metadata: m)
        }
    }

    /// Ends the interval once it has passed: one line with the counts that were not logged.
    mutating func flush(_ logger: Logger, now: ContinuousClock.Instant = .now) {
        guard let start = windowStart, now - start >= interval else { return }
        let counts = suppressed.filter { $0.value > 0 }
        if !counts.isEmpty {
            logger.warning("more of the same warnings, not logged one by one", metadata: [
                "counts": "\(counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
                "seconds": "\(Int((now - start) / .seconds(1)))",
            ])
        }
        suppressed = [:]
        windowStart = nil
    }
}
