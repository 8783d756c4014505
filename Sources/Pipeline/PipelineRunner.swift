import CloudTrail
import Detection
import Foundation
public import KafkaClient
public import Logging

/// The service's runner: the only code that owns the consumer and producer and does I/O. One consumer,
/// one producer, one thread: it consumes the input topics and, for unkeyed input, the repartition
/// topic as one group member (so N identical processes share all of the work), hands each record to
/// its stage (`RouteStage`, `DetectStage`), sends what the stages produce, and commits as the
/// `CommitCoordinator` says.
///
/// The stages are wired by the input: keyed input has the detect stage read it directly; unkeyed input
/// has the route stage read it and the detect stage read the repartition topic.
///
/// Confined to the thread that calls `run`: the rebalance listener runs inside `poll` on it too.
final class PipelineRunner<Consumer: PipelineConsumer, Producer: PipelineProducer>: KafkaRebalanceListener
where Producer.Consumer == Consumer {
    let configuration: PipelineConfiguration
    let logger: Logger
    let clients: Clients
    let deliveries: DeliveryTracker
    // The state the per-record path touches is `@exclusivity(unchecked)`: Swift's run-time check of a
    // class's stored property costs on every access, several per record, and can only find an overlap
    // on this thread; these accesses are short, on the one thread, and never reentrant.
    let intake: EventIntake
    /// Nil for keyed input.
    @exclusivity(unchecked) var route: RouteStage?
    /// The route stage's output topic, which the detect stage reads; nil for keyed input.
    let repartitionTopic: String?
    @exclusivity(unchecked) var detect: DetectStage
    @exclusivity(unchecked) var output: StageOutput
    var coordinator: CommitCoordinator
    /// Alerts and dead letters the broker refused for what they are (see `RefusedRecords`).
    var refused = RefusedRecords()
    @exclusivity(unchecked) var status = RunStatus()
    var hooks = Hooks()

    /// What the runner is given to call.
    struct Hooks {
        /// `run`'s stop condition, for the waits that retry while the broker is away.
        var stopRequested: @Sendable () -> Bool = { false }
        /// Called after each commit with the counters (metrics, readiness).
        var onCommit: ((PipelineSnapshot) -> Void)?
        /// Called on every turn of the run loop and of the waits that retry while the broker is away
        /// (liveness: a thread that stops calling it is wedged).
        var onProgress: (() -> Void)?
    }

    var counters: PipelineCounters { output.counters }

    /// The Kafka clients, the checkpoint topic's reader, and the clocks.
    struct Clients {
        let consumer: Consumer
        let producer: Producer
        let admin: any PartitionMetadata
        let checkpoints: any CheckpointStore
        let clock: any PipelineClock
    }

    /// What the runner keeps about its own progress.
    struct RunStatus {
        /// The wall clock as of the current poll batch (`run` refreshes it every 256 records).
        var clock = EventTime(millisecondsSinceEpoch: 0)
        var backlog = Backlog()
        /// An assignment (possibly empty) has come from the group since start (readiness).
        var joinedGroup = false
        /// The last state summary, when it was taken and how long it took (`stateSummary`).
        var lastSummary: (summary: DetectorSummary, at: ContinuousClock.Instant, took: Duration)?
        var lastPartitionRefresh: ContinuousClock.Instant?
        /// When the last tick and the last commit were (`turn`).
        var timers: (tick: ContinuousClock.Instant, commit: ContinuousClock.Instant) = (.now, .now)
        /// When the detect stage last processed observations from the repartition topic (wall clock,
        /// ms since the epoch): logged at stop, so that a benchmark can time unkeyed input up to its
        /// last observation, as it times a pipe through a second topic.
        var lastObservationAt: Int64?
    }

    /// The input read since this pipeline was last caught up (every owned input partition at its end):
    /// a start-up or a rebalance replays a backlog, and `caughtUpWithInput` logs how long it took.
    struct Backlog {
        var firstRecord: ContinuousClock.Instant?
        var records = 0
        var caughtUp = false
    }

    /// `deliveries` must be the tracker `producer` reports to; `partitionCounts` the topics' metadata.
    init(configuration: PipelineConfiguration, logger: Logger, clients: Clients, deliveries: DeliveryTracker,
         partitionCounts counts: [String: Int]) {
        self.configuration = configuration
        self.logger = logger
        self.clients = clients
        self.deliveries = deliveries
        let rule = configuration.rule ?? DetectionRule(configuration.detector.rule, enricher: configuration.enricher)
        intake = EventIntake(configuration: configuration, rule: rule)
        output = StageOutput(configuration: configuration, logger: logger)
        coordinator = CommitCoordinator(guarantee: configuration.processingGuarantee)
        let repartition = configuration.effectiveRepartitionTopic
        repartitionTopic = configuration.inputKeyed ? nil : repartition
        route = configuration.inputKeyed ? nil : RouteStage(
            repartitionTopic: repartition, repartitionPartitions: counts[repartition] ?? 0, detector: configuration.detector)
        detect = DetectStage(configuration: configuration, mode: configuration.inputKeyed ? .boundedOutOfOrderness : .external,
                             inputPartitions: InputPartitions(configuration.inputTopics, counts: counts))
    }

    var wallClock: EventTime { EventTime(millisecondsSinceEpoch: clients.clock.wallMilliseconds) }

    // MARK: run

    /// Runs until `stop` is set, then commits, leaves the group and returns. Throws on a fatal error
    /// (nothing past the last commit is lost: a restart replays it).
    func run(until stop: @escaping @Sendable () -> Bool) throws {
        try start(until: stop)
        while !stop() { try turn() }
        try finish()
    }

    /// Joins the group (the first assignment comes inside a later `turn`).
    func start(until stop: @escaping @Sendable () -> Bool) throws {
        hooks.stopRequested = stop
        logger.info("starting", metadata: [
            "librdkafka": "\(Librdkafka.version)", "group": "\(configuration.groupID)",
            "inputs": "\(configuration.inputTopics)", "keyed": "\(configuration.inputKeyed)",
            "guarantee": "\(configuration.processingGuarantee.rawValue)",
        ])
        if configuration.processingGuarantee == .exactlyOnce {
            try clients.producer.initTransactions(timeout: .seconds(30))
            try beginTransaction()
        }
        clients.consumer.rebalanceListener = self
        var topics = configuration.inputTopics
        if let repartitionTopic { topics.append(repartitionTopic) }
        try clients.consumer.subscribe(topics: topics)
        status.timers = (clients.clock.now, clients.clock.now)
    }

    /// One turn of the run loop: a poll batch, then timers and commits.
    func turn() throws {
        hooks.onProgress?()
        intake.refreshExceptions()
        do {
            var polled = 0
            while polled < 5_000, let event = try clients.consumer.next(timeout: polled == 0 ? .milliseconds(100) : .zero) {
                // One wall-clock read per 256 records (a read per record is measurable), never older than that.
                if polled & 255 == 0 { status.clock = wallClock }
                try handle(event)
                polled += 1
            }
            try coordinator.checkDeferred()
            try flushBatches()
            let now = clients.clock.now
            if now - status.timers.tick >= configuration.tickInterval {
                try tick()
                status.timers.tick = now
            }
            if now - status.timers.commit >= configuration.commitInterval, coordinator.pending == nil {
                if coordinator.periodicCommitBlocks { try commit() } else { try startCommit() }
                status.timers.commit = now
            }
            try advanceCommit()
        } catch let error as KafkaError where coordinator.recovery(from: error) == .abortAndRewind {
            // A transaction that cannot complete (a broker away past a call's timeout, partitions
            // lost, an abortable error) is aborted and its partitions replayed, as Kafka Streams does.
            try abortAndRewind(after: error)
            status.timers.commit = clients.clock.now
        }
    }

    /// Commits, leaves the group and closes the clients.
    func finish() throws {
        logger.info("stopping: committing and leaving the group")
        try commit()
        try clients.consumer.close()  // serves the final revoke (which commits again: cheap) and leaves the group
        if coordinator.transactionOpen {
            try clients.producer.commitTransaction(timeout: .seconds(30))
            coordinator.transactionEnded()
        }
        try clients.producer.close(timeout: .seconds(10))
        clients.checkpoints.close()
        var metadata: Logger.Metadata = ["counters": "\(output.counters)"]
        if let at = status.lastObservationAt { metadata["last_observation_processed_ms"] = "\(at)" }
        logger.info("stopped", metadata: metadata)
    }

    // MARK: records

    private func handle(_ event: ConsumerEvent<Consumer.Record>) throws {
        switch event {
        case .record(let m):
            output.counters.recordsConsumed += 1
            // The topic's name once per record: each `m.topic` makes a new String from librdkafka's.
            let tp = m.topicPartition
            let now = status.clock
            if let repartitionTopic, tp.topic == repartitionTopic {
                let processed = output.counters.observationsProcessed
                detect.repartition(m, tp, now: now, output: &output, partitionCounts: refreshedPartitionCounts)
                if output.counters.observationsProcessed != processed { status.lastObservationAt = clients.clock.wallMilliseconds }
            } else {
                if !status.backlog.caughtUp {
                    if status.backlog.firstRecord == nil { status.backlog.firstRecord = clients.clock.now }
                    status.backlog.records += 1
                }
                if route != nil {
                    route!.route(m, tp, now: now, intake: intake, output: &output)
                } else {
                    detect.input(m, tp, now: now, intake: intake, output: &output)
                }
            }
            try sendOutput()
        case .endOfPartition(let tp):
            let now = status.clock
            if !(route?.endOfPartition(tp, now: now) ?? false) { _ = detect.endOfPartition(tp, now: now) }
            if !status.backlog.caughtUp, status.backlog.firstRecord != nil { caughtUpWithInput() }
        case .error(let e):
            logger.warning("consumer: \(e.message)", metadata: [LogKeys.errorCode: "\(e.code)"])
        }
    }

    /// Logs the first moment every owned input partition is at its end after a backlog (start-up,
    /// rebalance): how many records it held and how fast they went. Unkeyed input counts as read once
    /// it is routed; its last observations are then on their way through the repartition topic.
    private func caughtUpWithInput() {
        guard route?.isCaughtUp ?? detect.isCaughtUp, let first = status.backlog.firstRecord else { return }
        let seconds = ((clients.clock.now - first) / .milliseconds(1)).rounded() / 1000
        let records = status.backlog.records
        logger.info("caught up with the input", metadata: [
            "records": "\(records)", "seconds": "\(seconds)",
            "records_per_second": "\(seconds > 0 ? Int(Double(records) / seconds) : records)",
        ])
        status.backlog = Backlog(caughtUp: true)
    }

    /// The input partition counts, when a marker named a partition not known here (partitions added
    /// while running): at most every 10 s.
    private func refreshedPartitionCounts() -> [String: Int]? {
        let now = clients.clock.now
        if let last = status.lastPartitionRefresh, now - last < .seconds(10) { return nil }
        status.lastPartitionRefresh = now
        return try? clients.admin.partitionCounts(timeout: .seconds(5))
    }

    /// Route stage batches not sent yet: after each poll batch, and before markers and commits, so that
    /// observations precede the markers that follow them and a commit covers what was routed.
    func flushBatches() throws {
        guard route != nil else { return }
        route!.flush(output: &output)
        try sendOutput()
    }

    // MARK: timers

    private func tick() throws {
        output.warnings.flush(logger)
        let now = wallClock
        route?.broadcastMarkers(now: now, output: &output)
        detect.tick(now: now, output: &output)
        try sendOutput()
    }
}
