import Synchronization

/// Whether the process should be restarted, for `/healthz`: it fails when a pipeline thread has not
/// made progress (a loop turn, or a turn of a wait that retries while the broker is away) for
/// `timeout`. A broker that is away does not fail it (restarting would not bring the broker back);
/// a thread wedged in a call that never returns does.
public final class Liveness: Sendable {
    public struct Status: Sendable, Hashable {
        public var alive: Bool
        public var reason: String
    }

    private let beats: Mutex<[ContinuousClock.Instant?]>
    private let stopping = Atomic<Bool>(false)
    public let timeout: Duration

    public init(pipelines: Int, timeout: Duration) {
        beats = Mutex([ContinuousClock.Instant?](repeating: nil, count: max(1, pipelines)))
        self.timeout = timeout
    }

    /// Pipeline `index` made progress.
    public func beat(_ index: Int, at now: ContinuousClock.Instant = .now) {
        beats.withLock { if $0.indices.contains(index) { $0[index] = now } }
    }

    /// Shutting down: the shutdown bound (`shutdown_timeout`) takes over.
    public func stop() { stopping.store(true, ordering: .releasing) }

    public func status(at now: ContinuousClock.Instant = .now) -> Status {
        if stopping.load(ordering: .acquiring) { return Status(alive: true, reason: "stopping") }
        let all = beats.withLock { $0 }
        for (index, beat) in all.enumerated() {
            // Before its first turn a pipeline is connecting and restoring: not judged yet.
            guard let beat else { continue }
            let age = now - beat
            if age > timeout {
                return Status(alive: false, reason: "pipeline \(index) made no progress for \(age.components.seconds)s (bound \(timeout.components.seconds)s)")
            }
        }
        return Status(alive: true, reason: "ok")
    }
}
