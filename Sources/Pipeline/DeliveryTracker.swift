import Foundation
import KafkaClient
import Synchronization

/// A record not delivered: the error, and the record as sent (when the report carried it).
struct DeliveryFailure: Sendable {
    var error: KafkaError
    var record: KafkaProducedRecord?
}

/// Which records have delivery reports: every `send` takes a tag in increasing order, the
/// producer's report (success or failure) hands it back; failures are kept until a commit takes them.
final class DeliveryTracker: Sendable {
    private struct State {
        var next: UInt64 = 1
        var outstanding = Set<UInt64>()
        var failures: [DeliveryFailure] = []
        /// Records whose latency is measured: tag -> when it started (wall clock, ms).
        var measured: [UInt64: Int64] = [:]
        var latencies: [Duration] = []
    }

    private let state = Mutex(State())

    /// `start` (wall clock, ms): measure from then to the record's successful delivery report.
    func issue(measuringFrom start: Int64? = nil) -> UInt64 {
        state.withLock { s in
            let tag = s.next
            s.next += 1
            s.outstanding.insert(tag)
            if let start { s.measured[tag] = start }
            return tag
        }
    }

    /// Called on the producer's poll thread for every report.
    func reported(_ tag: UInt64, error: KafkaError?, record: KafkaProducedRecord? = nil) {
        state.withLock { s in
            s.outstanding.remove(tag)
            if let error { s.failures.append(DeliveryFailure(error: error, record: record)) }
            // Bounded between takes (a pipeline without metrics never takes them).
            if !s.measured.isEmpty, let start = s.measured.removeValue(forKey: tag), error == nil, s.latencies.count < 10_000 {
                // Another host's clock (a batch routed elsewhere) can be ahead: never below zero.
                let now = wallClockMilliseconds()
                s.latencies.append(.milliseconds(max(0, now - start)))
            }
        }
    }

    /// The latencies measured since the last call.
    func takeLatencies() -> [Duration] { state.withLock { s in defer { s.latencies.removeAll() }; return s.latencies } }

    /// The delivery errors reported since the last call.
    func takeFailures() -> [DeliveryFailure] { state.withLock { s in defer { s.failures.removeAll() }; return s.failures } }

    /// The next tag `issue` will give: a barrier after everything sent so far.
    var issued: UInt64 { state.withLock { $0.next } }

    func allReported(before barrier: UInt64) -> Bool {
        state.withLock { s in !s.outstanding.contains { $0 < barrier } }
    }
}

/// The wall clock in milliseconds since the epoch (what Kafka timestamps and event times count in).
func wallClockMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
