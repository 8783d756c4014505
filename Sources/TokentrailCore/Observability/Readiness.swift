import Foundation
public import KafkaClient
import Synchronization

/// Whether this member is doing its job, for `/readyz`.
///
/// Ready means: the pipeline has started (it reached the broker: topic metadata was read), has
/// joined the consumer group (received an assignment, possibly empty), and committed recently.
/// The pipeline commits every `commit_interval` even when no record arrives, so an idle but
/// connected member stays ready, and so does a standby that owns no partition (more members than
/// partitions: it takes over when another leaves). A member stuck or cut off from the broker
/// (commits postponed) turns unready after `staleAfter`.
public final class Readiness: Sendable {
    public struct Status: Sendable, Hashable {
        public var ready: Bool
        public var reason: String
    }

    private struct State {
        var started = false
        var stopping = false
        var ownedPartitions = 0
        var joined = false
        var lastCommit: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    public let staleAfter: Duration

    public init(staleAfter: Duration) { self.staleAfter = staleAfter }

    /// The staleness bound for a commit interval: three missed commits, plus the 2 x 30 s an
    /// at-least-once commit may spend waiting for a slow broker before it is postponed.
    public static func staleBound(commitInterval: Duration) -> Duration { commitInterval * 3 + .seconds(65) }

    public func pipelineStarted() { state.withLock { $0.started = true } }
    public func stopping() { state.withLock { $0.stopping = true } }

    /// `joined`: every pipeline has had an assignment from the group (an empty one counts).
    public func committed(ownedPartitions: [KafkaTopicPartition], joined: Bool = true, at now: ContinuousClock.Instant = .now) {
        state.withLock {
            $0.ownedPartitions = ownedPartitions.count
            $0.joined = joined
            $0.lastCommit = now
        }
    }

    public func status(at now: ContinuousClock.Instant = .now) -> Status {
        let s = state.withLock { $0 }
        if s.stopping { return Status(ready: false, reason: "stopping") }
        guard s.started else { return Status(ready: false, reason: "starting: connecting to Kafka") }
        guard let last = s.lastCommit else { return Status(ready: false, reason: "waiting for the first commit") }
        let age = now - last
        if age > staleAfter {
            return Status(ready: false, reason: "no commit for \(age.components.seconds)s (bound \(staleAfter.components.seconds)s)")
        }
        guard s.joined else { return Status(ready: false, reason: "joining the consumer group") }
        guard s.ownedPartitions > 0 else { return Status(ready: true, reason: "standby: in the group, no partitions assigned") }
        return Status(ready: true, reason: "consuming \(s.ownedPartitions) partition(s)")
    }
}
