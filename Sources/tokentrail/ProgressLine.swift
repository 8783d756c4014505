import Foundation

/// One progress line on stderr for long work (`scan`, `replay`, `simulate`), redrawn at most
/// twice a second: events/s, what is done (of the total when known) and an ETA. Silent when stderr
/// is not a terminal, so logs and pipes never see it.
struct ProgressLine {
    /// What the total and `done` count: events (simulate) or bytes of input files (scan, replay).
    enum Unit { case events, bytes }

    let unit: Unit
    let total: Int?
    let enabled: Bool
    let began = ContinuousClock.now
    private var lastShown = ContinuousClock.now
    private(set) var done = 0
    private(set) var events = 0

    init(unit: Unit, total: Int?, enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.unit = unit
        self.total = total
        self.enabled = enabled
    }

    /// Counts work done; redraws when half a second has passed since the last redraw.
    mutating func advance(done moreDone: Int = 0, events moreEvents: Int = 0) {
        done += moreDone
        events += moreEvents
        guard enabled else { return }
        let now = ContinuousClock.now
        guard now - lastShown >= .milliseconds(500) else { return }
        lastShown = now
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + text(now: now)).utf8))
    }

    /// Draws the last state and ends the line.
    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + text(now: .now) + "\n").utf8))
    }

    /// `12,345 events  6,000 events/s  40.0/120.0 MB  ETA 13 s` (ETA only with a total).
    func text(now: ContinuousClock.Instant) -> String {
        let elapsed = now - began
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let counted = unit == .events ? total.map { "\(events)/\($0) events" } : nil
        var parts = [counted ?? "\(events) events", String(format: "%.0f events/s", Double(events) / max(seconds, 1e-9))]
        if unit == .bytes {
            parts.append(String(format: "%.1f", Double(done) / 1e6) + (total.map { String(format: "/%.1f", Double($0) / 1e6) } ?? "") + " MB")
        }
        if let total, total > 0, done > 0, seconds > 0 {
            let remaining = Double(max(total - done, 0)) / (Double(done) / seconds)
            parts.append(String(format: "%.0f%%  ETA %.0f s", 100 * Double(done) / Double(total), remaining))
        }
        return parts.joined(separator: "  ")
    }
}
