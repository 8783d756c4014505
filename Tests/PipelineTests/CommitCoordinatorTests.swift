import KafkaClient
@testable import Pipeline
import Testing

/// The commit protocol without a broker: the order of a commit's steps under each guarantee, the
/// at-least-once commit that waits for acknowledgements while records flow, and what rebalance
/// callbacks leave for the run loop.
struct CommitCoordinatorTests {
    let tp = KafkaTopicPartition("cloudtrail", 0)
    var point: CommitPoint {
        CommitPoint(owned: [tp], offsets: [KafkaTopicPartitionOffset(tp, KafkaOffset(42))],
                    checkpoints: [PartitionCheckpoint(group: "g", topic: tp.topic, partition: 0, offset: 42, next: 50, watermark: 1)])
    }

    @Test func atLeastOnceCommitsOffsetsOnlyAfterOutputAndThenCheckpointsAreAcknowledged() {
        let steps = CommitCoordinator(guarantee: .atLeastOnce).blockingSteps
        let checkpoints = steps.firstIndex(of: .writeCheckpoints)!, offsets = steps.firstIndex(of: .commitOffsets)!
        #expect(steps.firstIndex(of: .acknowledgeOutput)! < checkpoints)
        #expect(steps[checkpoints..<offsets].contains(.acknowledgeOutput), "checkpoints acknowledged before the offsets")
        #expect(!steps.contains(.commitTransaction))
    }

    @Test func exactlyOnceWritesCheckpointsAndOffsetsInsideTheTransactionAndOpensTheNext() {
        let steps = CommitCoordinator(guarantee: .exactlyOnce).blockingSteps
        #expect(steps == [.writeCheckpoints, .sendOffsetsToTransaction, .commitTransaction, .takeFailures, .beginTransaction])
        #expect(!steps.contains(.commitOffsets), "offsets go with the transaction, never on their own")
        #expect(CommitCoordinator(guarantee: .exactlyOnce).periodicCommitBlocks)
        #expect(!CommitCoordinator(guarantee: .atLeastOnce).periodicCommitBlocks)
    }

    @Test func theWaitingCommitStepsOnlyWhenEachBarrierIsAcknowledged() throws {
        var c = CommitCoordinator(guarantee: .atLeastOnce)
        let start = ContinuousClock.now
        let started = c.startCommit(point, issued: 10, now: start)
        let again = c.startCommit(point, issued: 12, now: start)
        #expect(started)
        #expect(!again, "one commit at a time")
        #expect(c.barrier == 10)
        guard case .writeCheckpoints(let cps) = c.acknowledged(resent: false, issued: 12) else { Issue.record("checkpoints next"); return }
        #expect(cps == point.checkpoints)
        c.checkpointsSent(issued: 13)
        #expect(c.barrier == 13, "the offsets wait for the checkpoints just sent")
        guard case .commitOffsets(let committed, _) = c.acknowledged(resent: false, issued: 13) else { Issue.record("offsets next"); return }
        #expect(committed.offsets == point.offsets)
        #expect(c.pending == nil && c.barrier == nil)
        guard case .none = c.acknowledged(resent: false, issued: 13) else { Issue.record("nothing under way"); return }
    }

    @Test func cutFormsSentForRefusedOutputAreWaitedForToo() {
        var c = CommitCoordinator(guarantee: .atLeastOnce)
        _ = c.startCommit(point, issued: 10, now: .now)
        guard case .none = c.acknowledged(resent: true, issued: 15) else { Issue.record("no step while cut forms are out"); return }
        #expect(c.barrier == 15)
        #expect(c.pending?.stage == .output)
    }

    @Test func aBlockingCommitSupersedesTheOneUnderWay() {
        var c = CommitCoordinator(guarantee: .atLeastOnce)
        _ = c.startCommit(point, issued: 10, now: .now)
        c.blockingCommitStarted()
        #expect(c.pending == nil)
    }

    @Test func aSlowCommitIsReportedOnce() {
        var c = CommitCoordinator(guarantee: .atLeastOnce)
        let start = ContinuousClock.now
        _ = c.startCommit(point, issued: 10, now: start)
        let early = c.slowStage(now: start + .seconds(5))
        let late = c.slowStage(now: start + .seconds(31))
        let later = c.slowStage(now: start + .seconds(60))
        #expect(early == nil)
        #expect(late == .output)
        #expect(later == nil, "once")
    }

    @Test func lostPartitionsDropTheCommitUnderWayAndRewindAnOpenTransaction() throws {
        var a = CommitCoordinator(guarantee: .atLeastOnce)
        _ = a.startCommit(point, issued: 10, now: .now)
        a.partitionsLost()
        #expect(a.pending == nil, "its offsets may name partitions that are gone")
        #expect(throws: Never.self) { try a.checkDeferred() }

        var e = CommitCoordinator(guarantee: .exactlyOnce)
        e.transactionBegun()
        e.partitionsLost()
        #expect(throws: KafkaError.self) { try e.checkDeferred() }
        e.rewound()
        #expect(throws: Never.self) { try e.checkDeferred() }
    }

    @Test func aFailedCommitOnRevokeIsThrownByTheNextTurn() {
        var a = CommitCoordinator(guarantee: .atLeastOnce)
        a.commitOnRevokeFailed(KafkaError(code: .timedOut, message: "transient"))
        #expect(throws: Never.self) { try a.checkDeferred() }
        a.commitOnRevokeFailed(KafkaError(code: .messageTooLarge, message: "1 record(s) not delivered", isFatal: true))
        #expect(throws: KafkaError.self) { try a.checkDeferred() }

        var e = CommitCoordinator(guarantee: .exactlyOnce)
        e.commitOnRevokeFailed(KafkaError(code: .timedOut, message: "transient"))
        #expect(throws: KafkaError.self, "exactly-once rewinds") { try e.checkDeferred() }
    }

    @Test func failuresAbortAndRewindOnlyUnderExactlyOnceAndOnlyWhenNotFatal() {
        let transient = KafkaError(code: .timedOut, message: "t"), fatal = KafkaError(code: .invalidRecord, message: "f", isFatal: true)
        let e = CommitCoordinator(guarantee: .exactlyOnce), a = CommitCoordinator(guarantee: .atLeastOnce)
        #expect(e.recovery(from: transient) == .abortAndRewind)
        #expect(e.recovery(from: fatal) == .stop)
        #expect(a.recovery(from: transient) == .stop)
        #expect(a.commitFailed(transient), "at-least-once postpones a commit that fails transiently")
        #expect(!a.commitFailed(fatal) && !e.commitFailed(transient))
    }
}
