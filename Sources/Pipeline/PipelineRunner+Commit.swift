import Detection
import Foundation
public import KafkaClient
import Logging

// Commits as `CommitCoordinator` says, and the rebalance callbacks (on the polling thread, inside poll).
extension PipelineRunner {
    func beginTransaction() throws {
        try clients.producer.beginTransaction()
        coordinator.transactionBegun()
    }

    /// What a commit writes: the offsets and a checkpoint per owned partition, as of now.
    func commitPoint() -> CommitPoint {
        let entries = (route?.commitEntries(group: configuration.groupID) ?? []) + detect.commitEntries(group: configuration.groupID)
        return CommitPoint(owned: (route?.owned ?? []) + detect.owned, offsets: entries.map(\.offset), checkpoints: entries.map(\.checkpoint))
    }

    /// A blocking commit (`CommitCoordinator.blockingSteps`): exactly-once, before partitions leave,
    /// and at stop. At-least-once, a slow or unreachable broker postpones it (the next interval tries
    /// again); a record the broker refused is dead-lettered in a cut form, or stops the process
    /// (`handleDeliveryFailures`).
    func commit() throws {
        try flushBatches()
        coordinator.blockingCommitStarted()
        let started = clients.clock.now
        let point = commitPoint()
        do {
            for step in coordinator.blockingSteps { try perform(step, point) }
        } catch let e as KafkaError where coordinator.commitFailed(e) {
            logger.warning("commit postponed: \(e.message)", metadata: [LogKeys.errorCode: "\(e.code)"])
            return
        }
        committed(point, started: started)
    }

    private func perform(_ step: CommitCoordinator.Step, _ point: CommitPoint) throws {
        let producer = clients.producer
        switch step {
        case .acknowledgeOutput:
            repeat { try producer.flush(timeout: .seconds(30)) } while try handleDeliveryFailures()
        case .writeCheckpoints:
            for cp in point.checkpoints { try writeCheckpoint(cp) }
        case .commitOffsets:
            try clients.consumer.commit(point.offsets)
        case .sendOffsetsToTransaction:
            guard !point.offsets.isEmpty else { return }
            let consumer = clients.consumer
            try retrying("send offsets to the transaction") { () throws(KafkaError) in
                try producer.sendOffsetsToTransaction(point.offsets, consumer: consumer, timeout: .seconds(30))
            }
        case .commitTransaction:
            try retrying("commit transaction") { () throws(KafkaError) in try producer.commitTransaction(timeout: .seconds(30)) }
            coordinator.transactionEnded()
            // What a crash can lose starts here (tests use it to tell a broker's fault from ours).
            logger.debug("transaction committed", metadata: ["commits": "\(output.counters.commits + 1)"])
        case .takeFailures:
            _ = try handleDeliveryFailures()
        case .beginTransaction:
            try beginTransaction()
        }
    }

    private func committed(_ point: CommitPoint, started: ContinuousClock.Instant) {
        output.counters.commits += 1
        if let onCommit = hooks.onCommit { onCommit(snapshot(owned: point.owned, commitDuration: clients.clock.now - started)) }
    }

    /// The at-least-once periodic commit, which waits for each step's acknowledgements while records
    /// keep being processed (`advanceCommit`).
    func startCommit() throws {
        try flushBatches()
        _ = coordinator.startCommit(commitPoint(), issued: deliveries.issued, now: clients.clock.now)
    }

    func advanceCommit() throws {
        guard let barrier = coordinator.barrier else { return }
        guard deliveries.allReported(before: barrier) else {
            if let stage = coordinator.slowStage(now: clients.clock.now) {
                logger.warning("commit waiting for the broker to acknowledge output", metadata: ["stage": "\(stage)"])
            }
            return
        }
        let resent = try handleDeliveryFailures()  // cut forms of refused records: the commit waits for them too
        switch coordinator.acknowledged(resent: resent, issued: deliveries.issued) {
        case .none:
            return
        case .writeCheckpoints(let checkpoints):
            for cp in checkpoints { try writeCheckpoint(cp) }
            coordinator.checkpointsSent(issued: deliveries.issued)
            try advanceCommit()
        case .commitOffsets(let point, let started):
            do {
                try clients.consumer.commitAsync(point.offsets)
            } catch {
                guard coordinator.commitFailed(error) else { throw error }
                logger.warning("commit postponed: \(error.message)", metadata: [LogKeys.errorCode: "\(error.code)"])
                return
            }
            committed(point, started: started)
        }
    }

    private func writeCheckpoint(_ cp: PartitionCheckpoint) throws {
        try send(topic: configuration.effectiveCheckpointTopic, partition: clients.checkpoints.checkpointPartition(for: cp.partition),
                 key: Array(cp.key.utf8), value: cp.encoded())
    }

    /// Progress per owned partition and the detector's state, for gauges (commit time only).
    private func snapshot(owned: [KafkaTopicPartition], commitDuration: Duration) -> PipelineSnapshot {
        let consumer = clients.consumer
        var positions: [KafkaTopicPartition: Int64] = [:]
        if let p = try? consumer.position(owned) {
            for tpo in p where tpo.offset.rawValue >= 0 { positions[tpo.topicPartition] = tpo.offset.rawValue }
        }
        let progress = owned.map { tp -> PartitionProgress in
            var lag: Int64?
            if let position = positions[tp], let marks = try? consumer.watermarks(tp, cached: true, timeout: .seconds(10)), marks.high >= 0 {
                lag = max(0, marks.high - position)
            }
            return PartitionProgress(partition: tp, watermark: route?.watermark(tp) ?? detect.watermark(tp), lag: lag)
        }
        return PipelineSnapshot(counters: output.counters, owned: owned, partitions: progress, detector: stateSummary(),
                                commitDuration: commitDuration, openAlertLatencies: deliveries.takeLatencies(),
                                joined: status.joinedGroup)
    }

    /// The detector's summary for the state gauges. It walks every window on this thread, so it is
    /// taken again only after a hundred times its own duration: the gauges cost at most about 1 % of
    /// the thread, are as fresh as the commits while the state is small, and never more than 30 s old.
    private func stateSummary() -> DetectorSummary {
        let now = clients.clock.now
        if let last = status.lastSummary, now - last.at < min(last.took * 100, .seconds(30)) { return last.summary }
        let summary = detect.summary()
        status.lastSummary = (summary, now, clients.clock.now - now)
        return summary
    }

    /// Exactly-once: aborts the open transaction (retrying while the broker is away, until `run` stops)
    /// and rewinds every owned partition to its last committed checkpoint: the replay produces again
    /// what the aborted transaction held, and a `read_committed` reader never saw it.
    func abortAndRewind(after error: KafkaError) throws {
        logger.warning("transaction aborted; rewinding to the last commit", metadata: [
            LogKeys.errorCode: "\(error.code)", "error": "\(error.message)",
        ])
        if coordinator.transactionOpen {
            let producer = clients.producer
            try retrying("abort transaction") { () throws(KafkaError) in try producer.abortTransaction(timeout: .seconds(30)) }
            coordinator.transactionEnded()
        }
        coordinator.rewound()
        // The aborted transaction's failures: records refused for what they are are remembered (the
        // replay sends their cut form); the rest is produced again by the replay.
        for failure in deliveries.takeFailures() {
            if let record = failure.record, RefusedRecords.isRefusal(failure.error.code) { refused.rememberRefusal(of: record) }
        }
        route?.discardPending()
        output.discard()
        let owned = (route?.owned ?? []) + detect.owned
        drop(owned)
        var starts = restore(owned)
        let rest = owned.filter { starts[$0] == nil }
        if !rest.isEmpty {
            for tpo in try clients.consumer.committed(rest, timeout: .seconds(10)) where tpo.offset.rawValue >= 0 { starts[tpo.topicPartition] = tpo.offset }
        }
        if !owned.isEmpty {
            try clients.consumer.seek(owned.map { KafkaTopicPartitionOffset($0, starts[$0] ?? .beginning) }, timeout: .seconds(10))
        }
        output.counters.transactionsAborted += 1
        try beginTransaction()
    }

    // MARK: rebalances

    func partitionsAssigned(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: KafkaOffset] {
        output.counters.rebalances += 1
        status.joinedGroup = true
        // New partitions may hold a backlog; one not yet read through keeps its start.
        status.backlog.caughtUp = false
        return restore(partitions)
    }

    /// Sets up `partitions` from their latest checkpoints; returns where to start reading those that
    /// have one (the others start at their committed offset).
    private func restore(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: KafkaOffset] {
        let found: [KafkaTopicPartition: PartitionCheckpoint]
        do {
            found = try clients.checkpoints.latest(for: partitions)
        } catch {
            // Without checkpoints the committed offsets are still safe (never past an open window),
            // only watermarks restart from nothing.
            logger.error("could not read checkpoints; starting from committed offsets: \(error)")
            found = [:]
        }
        for (tp, why) in clients.checkpoints.unusable {
            output.counters.watermarksRefused["checkpoint_unreadable", default: 0] += 1
            logger.error("newest checkpoint unusable; starting from the committed offset", metadata: [LogKeys.partition: "\(tp)", "problem": "\(why)"])
        }
        var starts: [KafkaTopicPartition: KafkaOffset] = [:]
        let limit = wallClock.millisecondsSinceEpoch + configuration.detector.maxFutureSkew.milliseconds
        for tp in partitions {
            var cp = found[tp]
            if let c = cp, !c.isWithin(limit) {
                // A watermark from the future would fire every window at once and make all input late.
                output.counters.watermarksRefused["checkpoint_in_future", default: 0] += 1
                logger.error("checkpoint watermark beyond time.max_future_skew refused; starting from the committed offset", metadata: [
                    LogKeys.partition: "\(tp)", "offset": "\(c.offset)", "watermark": "\(c.watermark.map(String.init) ?? "none")",
                ])
                cp = nil
            }
            if route != nil, tp.topic != repartitionTopic {
                route!.assign(tp, watermark: cp?.watermark)
            } else {
                detect.assign(tp, checkpoint: cp)
            }
            if let cp { starts[tp] = KafkaOffset(cp.offset) }
            logger.info("partition assigned", metadata: [
                LogKeys.partition: "\(tp)", "checkpoint": "\(cp.map { "offset \($0.offset), watermark \($0.watermark.map { String($0) } ?? "none")" } ?? "none")",
            ])
        }
        return starts
    }

    func partitionsRevoked(_ partitions: [KafkaTopicPartition]) {
        output.counters.rebalances += 1
        do {
            try commit()
        } catch {
            logger.error("commit on revoke failed; the next owner replays from the last commit: \(error)")
            coordinator.commitOnRevokeFailed(error)
        }
        drop(partitions)
    }

    func partitionsLost(_ partitions: [KafkaTopicPartition]) {
        output.counters.rebalances += 1
        logger.warning("partitions lost without a hand-over", metadata: [LogKeys.partitions: "\(partitions)"])
        coordinator.partitionsLost()
        drop(partitions)
    }

    private func drop(_ partitions: [KafkaTopicPartition]) {
        for tp in partitions {
            route?.drop(tp)
            detect.drop(tp)
        }
    }
}
