import KafkaClient

/// What a commit writes, taken at one moment: the offsets and a checkpoint per owned partition.
struct CommitPoint {
    var owned: [KafkaTopicPartition] = []
    var offsets: [KafkaTopicPartitionOffset] = []
    var checkpoints: [PartitionCheckpoint] = []
}

/// The commit protocol (design brief, Recovery) as a state machine without I/O: events in, what to
/// do out; the runner does it and reports back. Every commit (1) has every record produced so far
/// acknowledged (exactly-once: part of the transaction), (2) writes a checkpoint per owned partition
/// and has it acknowledged, (3) commits the offsets; never past the oldest record of a window that
/// is still open (the stages' `commitEntries`). The two processing guarantees are two configurations:
/// the steps of a blocking commit, and whether the periodic commit waits without stopping the thread.
struct CommitCoordinator {
    /// One step of a blocking commit, done by the runner in order.
    enum Step: Equatable {
        /// Flush the producer and take the delivery failures (refused output goes to the dead-letter
        /// topic in a cut form, and is flushed in turn); repeats until none is left.
        case acknowledgeOutput
        case writeCheckpoints
        case commitOffsets
        case sendOffsetsToTransaction
        case commitTransaction
        /// Take the delivery failures of the committed transaction (none is expected).
        case takeFailures
        case beginTransaction
    }

    /// An at-least-once commit under way.
    struct Pending {
        enum Stage: Equatable { case output, checkpoints }
        var stage: Stage
        var point: CommitPoint
        /// Every record sent before this tag must be reported before the next stage.
        var barrier: UInt64
        var started: ContinuousClock.Instant
        var warned = false
    }

    /// What the runner does when the commit under way has all its acknowledgements.
    enum Action {
        case none
        /// Write these checkpoints, then report `checkpointsSent(issued:)`.
        case writeCheckpoints([PartitionCheckpoint])
        /// Commit these offsets (asynchronously): the commit is complete.
        case commitOffsets(CommitPoint, started: ContinuousClock.Instant)
    }

    /// How a failure in the run loop is handled.
    enum Recovery: Equatable {
        /// Exactly-once: abort the transaction and rewind the owned partitions to their last commit.
        case abortAndRewind
        /// Stop the process: nothing past the last commit is lost, a restart replays it.
        case stop
    }

    let guarantee: ProcessingGuarantee
    private(set) var pending: Pending?
    private(set) var transactionOpen = false
    /// A failure seen where it cannot be thrown (a rebalance callback): the next turn throws it, so
    /// that nothing commits past a record that was not delivered.
    private(set) var deferredFailure: KafkaError?
    /// Exactly-once: the open transaction must be aborted and the partitions rewound (seen where that
    /// cannot be done at once: in a rebalance callback).
    private(set) var rewindReason: String?

    init(guarantee: ProcessingGuarantee) { self.guarantee = guarantee }

    /// The steps of a blocking commit: exactly-once always; at-least-once before partitions leave and
    /// at stop. It supersedes an at-least-once commit under way (call `blockingCommitStarted`).
    var blockingSteps: [Step] {
        switch guarantee {
        case .atLeastOnce: [.acknowledgeOutput, .writeCheckpoints, .acknowledgeOutput, .commitOffsets]
        case .exactlyOnce: [.writeCheckpoints, .sendOffsetsToTransaction, .commitTransaction, .takeFailures, .beginTransaction]
        }
    }

    /// Whether the periodic commit is a blocking one (exactly-once) or starts a commit that waits for
    /// its acknowledgements while records keep being processed (at-least-once: a blocking commit stops
    /// the thread for as long as the broker takes, and every alert whose trigger arrives meanwhile waits).
    var periodicCommitBlocks: Bool { guarantee == .exactlyOnce }

    // MARK: events

    /// The commit interval has passed (at-least-once): starts a commit of `point` whose first stage
    /// waits for every record sent before `issued`. False when one is still under way.
    mutating func startCommit(_ point: CommitPoint, issued: UInt64, now: ContinuousClock.Instant) -> Bool {
        guard pending == nil else { return false }
        pending = Pending(stage: .output, point: point, barrier: issued, started: now)
        return true
    }

    mutating func blockingCommitStarted() { pending = nil }

    /// Every record before the barrier is reported (the runner checks `barrier`), and `resent` tells
    /// whether taking the delivery failures sent cut forms of refused records: the commit then waits
    /// for those too, up to `issued`.
    mutating func acknowledged(resent: Bool, issued: UInt64) -> Action {
        guard var p = pending else { return .none }
        if resent {
            p.barrier = issued
            pending = p
            return .none
        }
        switch p.stage {
        case .output:
            p.stage = .checkpoints
            pending = p
            return .writeCheckpoints(p.point.checkpoints)
        case .checkpoints:
            pending = nil
            return .commitOffsets(p.point, started: p.started)
        }
    }

    /// The checkpoints of the commit under way are sent; the last took tag `issued - 1`.
    mutating func checkpointsSent(issued: UInt64) { pending?.barrier = issued }

    /// The barrier the commit under way waits for; nil when none is.
    var barrier: UInt64? { pending?.barrier }

    /// The stage to warn about, once, when the commit under way has waited for more than `after`.
    mutating func slowStage(now: ContinuousClock.Instant, after: Duration = .seconds(30)) -> Pending.Stage? {
        guard let p = pending, !p.warned, now - p.started > after else { return nil }
        pending?.warned = true
        return p.stage
    }

    mutating func transactionBegun() { transactionOpen = true }
    mutating func transactionEnded() { transactionOpen = false }

    /// A commit that could not complete: non-fatal at-least-once, it is postponed (the next interval
    /// tries again); otherwise the run loop's recovery decides.
    func commitFailed(_ error: KafkaError) -> Bool { guarantee == .atLeastOnce && !error.isFatal }

    /// Partitions are being revoked and their commit failed: a record not delivered must not be
    /// committed past by the partitions that stay either; exactly-once, the transaction is aborted.
    mutating func commitOnRevokeFailed(_ error: any Error) {
        if let e = error as? KafkaError, e.isFatal { deferredFailure = e }
        if guarantee == .exactlyOnce { rewindReason = "commit on revoke failed: \(error)" }
    }

    /// Partitions were lost without a hand-over: the commit under way may name them, and an open
    /// transaction holds output of partitions another member now owns.
    mutating func partitionsLost() {
        pending = nil
        if guarantee == .exactlyOnce, transactionOpen { rewindReason = "partitions lost" }
    }

    /// Throws what a rebalance callback left to throw: a deferred failure first, then a rewind.
    func checkDeferred() throws(KafkaError) {
        if let deferredFailure { throw deferredFailure }
        if let rewindReason { throw KafkaError(code: .transactionAborted, message: rewindReason) }
    }

    /// How the run loop handles `error`.
    func recovery(from error: KafkaError) -> Recovery {
        guarantee == .exactlyOnce && !error.isFatal ? .abortAndRewind : .stop
    }

    /// The transaction was aborted and the partitions rewound.
    mutating func rewound() {
        rewindReason = nil
        pending = nil
    }
}
