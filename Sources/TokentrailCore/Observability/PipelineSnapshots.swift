import Detection
public import Pipeline
import Synchronization

/// The latest commit snapshot of each of a process's pipelines (setting `threads`), combined into
/// one for the process's metrics and readiness.
///
/// Each pipeline calls `record` from its own thread after its commits. The combination and whatever
/// `publish` does with it happen under one lock, so the process-wide totals a publisher sees never go
/// backwards (metrics turn totals into counter increments).
public final class PipelineSnapshots: Sendable {
    private struct Latest {
        var snapshot: PipelineSnapshot
        var committedAt: ContinuousClock.Instant
    }

    private let latest: Mutex<[Latest?]>

    public init(pipelines: Int) {
        latest = Mutex([Latest?](repeating: nil, count: max(1, pipelines)))
    }

    /// Records pipeline `index`'s snapshot, then calls `publish` with the combination of every
    /// pipeline's latest and the oldest of their last commits (nil until each has committed once:
    /// one stuck pipeline makes the process unready).
    public func record(
        _ snapshot: PipelineSnapshot, from index: Int, at now: ContinuousClock.Instant = .now,
        publish: (_ combined: PipelineSnapshot, _ oldestCommit: ContinuousClock.Instant?) -> Void
    ) {
        latest.withLock { all in
            all[index] = Latest(snapshot: snapshot, committedAt: now)
            var combined = PipelineSnapshot(counters: PipelineCounters(), owned: [], partitions: [], detector: DetectorSummary(),
                                            commitDuration: snapshot.commitDuration,
                                            openAlertLatencies: snapshot.openAlertLatencies)  // new since this pipeline's last: not summed
            var oldest: ContinuousClock.Instant? = now
            for entry in all {
                guard let entry else {
                    oldest = nil
                    continue
                }
                let s = entry.snapshot
                combined.counters = combined.counters + s.counters
                combined.joined = combined.joined && s.joined
                combined.owned += s.owned
                combined.partitions += s.partitions
                combined.detector.windows += s.detector.windows
                combined.detector.expandedWindows += s.detector.expandedWindows
                combined.detector.incidents += s.detector.incidents
                combined.detector.estimatedBytes += s.detector.estimatedBytes
                if let o = oldest { oldest = min(o, entry.committedAt) }
            }
            publish(combined, oldest)
        }
    }
}
