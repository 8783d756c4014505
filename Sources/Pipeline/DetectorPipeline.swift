import CloudTrail
import Detection
import Foundation
public import KafkaClient
public import Logging
import Synchronization

/// The service: one consumer, one producer, one thread. It consumes the input topics (route stage,
/// or detect stage when the input is keyed) and the repartition topic (detect stage) as one group
/// member, so N identical processes share all of the work.
///
/// Commit protocol (design brief, Recovery): every `commitInterval`, and before partitions leave,
/// (1) every record produced so far is acknowledged (exactly-once: part of the transaction),
/// (2) a checkpoint per owned partition is written and acknowledged, (3) the offsets are committed.
/// Never past the oldest record of a window that is still open (`DetectorCheckpoint.safeOffset`).
/// At-least-once, the periodic commit waits for those acknowledgements without stopping the thread
/// (`startCommit`); exactly-once, revokes and stop commit blocking.
///
/// Confined to the thread that calls `run`: the rebalance listener runs inside `poll` on it too.
public final class DetectorPipeline: KafkaRebalanceListener {
    public let configuration: PipelineConfiguration
    private let logger: Logger
    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    private let checkpoints: CheckpointReader
    private let admin: KafkaAdmin
    private let rule: DetectionRule
    private let decoder: CloudTrailDecoder
    // The state the per-record path touches is `@exclusivity(unchecked)`: Swift's run-time check of a
    // class's stored property costs on every access, several per record, and can only find an overlap
    // on this thread; these accesses are short, on the one thread, and never reentrant.
    @exclusivity(unchecked) private var detector: WindowedDetector
    private let deliveries = DeliveryTracker()
    /// An at-least-once commit under way (see `startCommit`); nil between commits.
    private var pendingCommit: PendingCommit?
    private let repartitionTopic: String
    private let checkpointTopic: String
    private let inputTopics: Set<String>
    /// Every input partition that exists: the detect watermark is the minimum of their markers.
    /// Partitions added while running are found when a marker names one (`refreshInputPartitions`).
    private var inputPartitions = InputPartitions([], counts: [:])
    /// `time.empty_partition_timeout` in milliseconds (`UpstreamWatermark`).
    private let emptyPartitionTimeout: Int64
    private var lastPartitionRefresh: ContinuousClock.Instant?
    private var repartitionPartitions = 0
    private var checkpointPartitions = 0

    @exclusivity(unchecked) private var routes: [KafkaTopicPartition: RouteState] = [:]
    @exclusivity(unchecked) private var detects: [KafkaTopicPartition: DetectState] = [:]
    @exclusivity(unchecked) private var decodeResult = CloudTrailDecodeResult()
    /// Route stage output not yet sent, indexed by repartition partition (see `ObservationBatch`).
    @exclusivity(unchecked) private var pendingBatches: [PendingBatch?] = [nil]
    private var batchObservations: [EncodedObservation] = []
    /// The wall clock as of the current poll batch (`run` refreshes it every 256 records).
    @exclusivity(unchecked) private var clock = EventTime(millisecondsSinceEpoch: 0)
    private var transactionOpen = false
    /// The last state summary, when it was taken and how long it took (`stateSummary`).
    private var lastSummary: (summary: DetectorSummary, at: ContinuousClock.Instant, took: Duration)?
    @exclusivity(unchecked) public private(set) var counters = PipelineCounters()
    /// Bad input and a full state are logged once per reason and interval, then counted.
    private var warnings = RateLimitedWarnings()
    /// `time.max_future_skew` in milliseconds: events, markers and checkpoints past it are refused.
    private let maxFutureSkewMilliseconds: Int64
    /// A failure seen where it cannot be thrown (inside a rebalance callback): `run` throws it next,
    /// so that nothing commits past a record that was not delivered.
    private var deferredFailure: KafkaError?
    /// Alerts and dead letters the broker refused for what they are (see `RefusedRecords`).
    private var refused = RefusedRecords()
    /// Exactly-once: the open transaction must be aborted and the owned partitions rewound (set where
    /// that cannot be done at once: in a rebalance callback).
    private var rewindNeeded: String?
    /// `run`'s stop condition, for the waits that retry while the broker is away.
    private var stopRequested: @Sendable () -> Bool = { false }
    /// Called after each commit with the counters (metrics, readiness).
    public var onCommit: ((PipelineSnapshot) -> Void)?
    /// Called on every turn of the run loop and of the waits that retry while the broker is away
    /// (liveness: a thread that stops calling it is wedged).
    public var onProgress: (() -> Void)?
    /// An assignment (possibly empty) has come from the group since start (readiness).
    private var joinedGroup = false

    struct RouteState {
        var watermarks: BoundedOutOfOrdernessWatermarks
        var nextOffset: Int64?
        var lastMarker: WatermarkMarker?
    }

    struct DetectState {
        var id: Int32
        var upstream: [String: WatermarkMarker] = [:]
        var caughtUp = false
    }

    /// The input read since this pipeline was last caught up (every owned input partition at its end):
    /// a start-up or a rebalance replays a backlog, and `caughtUpWithInput` logs how long it took.
    struct Backlog {
        var firstRecord: ContinuousClock.Instant?
        var records = 0
        var caughtUp = false
    }
    @exclusivity(unchecked) private var backlog = Backlog()
    /// The keyed input partition of the last record and its detector id, while no end of partition
    /// has been seen since its state was read: records come in runs per partition, so the dictionary
    /// lookup by topic name is saved on all but the first of a run.
    @exclusivity(unchecked) private var lastInput: (tp: KafkaTopicPartition, id: Int32)?

    /// Creates the clients and any missing topics. `stop` ends the wait for input topics early.
    public init(configuration: PipelineConfiguration, logger: Logger, until stop: @escaping @Sendable () -> Bool = { false }) throws {
        self.configuration = configuration
        self.logger = logger
        repartitionTopic = configuration.effectiveRepartitionTopic
        checkpointTopic = configuration.effectiveCheckpointTopic
        inputTopics = Set(configuration.inputTopics)
        rule = DetectionRule(configuration.detector.rule, enricher: configuration.enricher)
        maxFutureSkewMilliseconds = configuration.detector.maxFutureSkew.milliseconds
        emptyPartitionTimeout = configuration.detector.effectiveEmptyPartitionTimeout.milliseconds
        let r = configuration.detector.rule
        decoder = CloudTrailDecoder(
            limits: configuration.decoderLimits,
            prefilter: configuration.prefilter
                ? CloudTrailPrefilter(identityTypes: r.identityTypes.sorted(), accessKeyPrefixes: r.accessKeyPrefixes) : nil,
            fields: DetectionRule.fieldsRead)
        var detectorConfig = configuration.detector
        detectorConfig.defaultWatermarkMode = configuration.inputKeyed ? .boundedOutOfOrderness : .external
        detector = WindowedDetector(detectorConfig)

        admin = try KafkaAdmin(configuration: configuration.kafka, logger: logger)
        var consumerConfig = KafkaConsumerConfiguration(
            common: configuration.kafka, groupID: configuration.groupID,
            sessionTimeoutMilliseconds: configuration.sessionTimeoutMilliseconds)
        consumerConfig.isolationLevel = .readCommitted
        consumer = try KafkaConsumer(configuration: consumerConfig, logger: logger, statistics: configuration.statistics)
        var producerConfig = KafkaProducerConfiguration(common: configuration.kafka)
        producerConfig.messageMaxBytes = max(1_000_000, configuration.deadLetterMaxBytes + 100_000)
        if configuration.processingGuarantee == .exactlyOnce {
            producerConfig.transactionalID = configuration.transactionalID
        }
        let deliveries = deliveries
        producer = try KafkaProducer(configuration: producerConfig, logger: logger, statistics: configuration.statistics, deliveryReport: { report in
            deliveries.reported(report.tag, error: report.error, record: report.record)
        })
        try TopicSetup.prepare(configuration: configuration, admin: admin, logger: logger, until: stop)
        let counts = try admin.partitionCounts()
        inputPartitions = InputPartitions(configuration.inputTopics, counts: counts)
        repartitionPartitions = counts[repartitionTopic] ?? 0
        pendingBatches = Array(repeating: nil, count: max(1, repartitionPartitions))
        checkpointPartitions = counts[checkpointTopic] ?? 1
        checkpoints = try CheckpointReader(
            kafka: configuration.kafka, topic: checkpointTopic, partitions: checkpointPartitions,
            group: configuration.groupID, logger: logger)
    }

    private static var wallClock: EventTime {
        EventTime(millisecondsSinceEpoch: wallClockMilliseconds())
    }

    // MARK: run

    /// Runs until `stop` is set, then commits, leaves the group and returns. Throws on a fatal error
    /// (nothing past the last commit is lost: a restart replays it).
    public func run(until stop: @escaping @Sendable () -> Bool) throws {
        stopRequested = stop
        logger.info("starting", metadata: [
            "librdkafka": "\(Librdkafka.version)", "group": "\(configuration.groupID)",
            "inputs": "\(configuration.inputTopics)", "keyed": "\(configuration.inputKeyed)",
            "guarantee": "\(configuration.processingGuarantee.rawValue)",
        ])
        if configuration.processingGuarantee == .exactlyOnce {
            try producer.initTransactions()
            try beginTransaction()
        }
        consumer.rebalanceListener = self
        var topics = configuration.inputTopics
        if !configuration.inputKeyed { topics.append(repartitionTopic) }
        try consumer.subscribe(topics: topics)

        var lastTick = ContinuousClock.now
        var lastCommit = ContinuousClock.now
        while !stop() {
            onProgress?()
            do {
                var polled = 0
                while polled < 5_000, let event = try consumer.poll(timeout: polled == 0 ? .milliseconds(100) : .zero) {
                    // One wall-clock read per 256 records (a read per record is measurable), never older than that.
                    if polled & 255 == 0 { clock = Self.wallClock }
                    try handle(event)
                    polled += 1
                }
                if let failure = deferredFailure { throw failure }
                if let reason = rewindNeeded { throw KafkaError(code: .transactionAborted, message: reason) }
                try flushBatches()
                let now = ContinuousClock.now
                if now - lastTick >= configuration.tickInterval {
                    try tick()
                    lastTick = now
                }
                if now - lastCommit >= configuration.commitInterval, pendingCommit == nil {
                    if configuration.processingGuarantee == .atLeastOnce { try startCommit() } else { try commit() }
                    lastCommit = now
                }
                try advanceCommit()
            } catch let error as KafkaError where configuration.processingGuarantee == .exactlyOnce && !error.isFatal {
                // A transaction that cannot complete (a broker away past a call's timeout, partitions
                // lost, an abortable error) is aborted and its partitions replayed, as Kafka Streams does.
                try abortAndRewind(after: error)
                lastCommit = .now
            }
        }
        logger.info("stopping: committing and leaving the group")
        try commit()
        try consumer.close()  // serves the final revoke (which commits again: cheap) and leaves the group
        if transactionOpen { try producer.commitTransaction(); transactionOpen = false }
        try producer.close(timeout: .seconds(10))
        checkpoints.close()
        logger.info("stopped", metadata: ["counters": "\(counters)"])
    }

    // MARK: records

    private func handle(_ event: KafkaConsumerEvent) throws {
        switch event {
        case .message(let m):
            counters.recordsConsumed += 1
            // The topic's name once per record: each `m.topic` makes a new String from librdkafka's.
            let tp = m.topicPartition
            if !configuration.inputKeyed, tp.topic == repartitionTopic {
                try detectFromRepartition(m, tp)
                return
            }
            if !backlog.caughtUp {
                if backlog.firstRecord == nil { backlog.firstRecord = .now }
                backlog.records += 1
            }
            if configuration.inputKeyed {
                try detectFromInput(m, tp)
            } else {
                try route(m, tp)
            }
        case .endOfPartition(let tp, _):
            defer { if !backlog.caughtUp, backlog.firstRecord != nil { caughtUpWithInput() } }
            let now = clock
            if var r = routes[tp] {
                r.watermarks.setCaughtUp(true, now: now)
                routes[tp] = r
            } else if var d = detects[tp], !d.caughtUp {
                d.caughtUp = true
                detects[tp] = d
                lastInput = nil  // the next record reads the flag again
                detector.setCaughtUp(partition: d.id, true, now: now)
            }
        case .error(let e):
            logger.warning("consumer: \(e.message)", metadata: [LogKeys.errorCode: "\(e.code)"])
        }
    }

    /// Logs the first moment every owned input partition is at its end after a backlog (start-up,
    /// rebalance): how many records it held and how fast they went. Unkeyed input counts as read once
    /// it is routed; its last observations are then on their way through the repartition topic.
    private func caughtUpWithInput() {
        let atEnd = configuration.inputKeyed
            ? detects.values.allSatisfy(\.caughtUp)
            : routes.values.allSatisfy(\.watermarks.isCaughtUp)
        guard atEnd, let first = backlog.firstRecord else { return }
        let seconds = ((ContinuousClock.now - first) / .milliseconds(1)).rounded() / 1000
        logger.info("caught up with the input", metadata: [
            "records": "\(backlog.records)", "seconds": "\(seconds)",
            "records_per_second": "\(seconds > 0 ? Int(Double(backlog.records) / seconds) : backlog.records)",
        ])
        backlog = Backlog(caughtUp: true)
    }

    /// Unkeyed input: decode, pre-filter, evaluate, re-key to the repartition topic.
    private func route(_ m: KafkaMessage, _ tp: KafkaTopicPartition) throws {
        let now = clock
        // The partition's state is changed in place after one lookup, not looked up and stored back
        // per record. Nothing below adds or removes partitions.
        let index = routes.index(forKey: tp) { RouteState(watermarks: newWatermarks()) }
        let origin = EventOrigin(topic: tp.topic, partition: tp.partition, offset: m.offset)
        // The watermark takes the record's latest event time: one `onEvent` per record leaves it where
        // one per event did (it only rises, and `now` is the record's).
        var latest: EventTime?
        try forEachEvent(of: m) { event in
            if latest.map({ event.eventTime > $0 }) ?? true { latest = event.eventTime }
            switch rule.keep(event) {
            case .success(let kept):
                try routeObservation(kept, origin: origin)
            case .failure(let reason):
                counters.eventsRejected[reason.label, default: 0] += 1
            }
        }
        // Only a record that yields an event time keeps the partition from idling. One without (garbage,
        // refused future times) counts as an end of partition: a partition that keeps receiving garbage
        // never reaches its end, yet must be idle after `idle_timeout` like a silent one.
        if let latest {
            routes.values[index].watermarks.setCaughtUp(false, now: now)
            routes.values[index].watermarks.onEvent(latest, now: now)
        } else {
            routes.values[index].watermarks.setCaughtUp(true, now: now)
        }
        routes.values[index].nextOffset = m.offset + 1
    }

    /// Into the pending batch of the repartition partition librdkafka's default partitioner would
    /// pick for the grouping key (as when each observation was its own keyed record).
    /// The observation is encoded from the event's bytes (`ObservationBatch.append(_:origin:)`): the
    /// route stage makes no string per event.
    private func routeObservation(_ kept: KeptEvent, origin: EventOrigin) throws {
        let partition = repartitionPartitions > 0
            ? KafkaPartitioner.consistentRandom(key: UnsafeRawBufferPointer(kept.groupingKeyUTF8), partitions: Int32(repartitionPartitions))
            : 0
        let i = Int(partition)
        if pendingBatches[i] == nil { pendingBatches[i] = PendingBatch(consumedAt: clock.millisecondsSinceEpoch) }
        pendingBatches[i]!.batch.append(kept, origin: origin)
        counters.observationsRouted += 1
        if pendingBatches[i]!.batch.bytes.count >= ObservationBatch.targetBytes { try sendBatch(partition: partition) }
    }

    /// A batch being filled, and when its first observation was consumed (wall clock, ms): the batch
    /// record's timestamp, from which the detect stage measures open-alert latency.
    struct PendingBatch {
        var batch = ObservationBatch()
        let consumedAt: Int64
    }

    private func sendBatch(partition: Int32) throws {
        guard let pending = pendingBatches[Int(partition)] else { return }
        pendingBatches[Int(partition)] = nil
        try send(topic: repartitionTopic, partition: partition, key: [Self.batchKeyByte], value: pending.batch.bytes,
                 timestampMilliseconds: pending.consumedAt)
    }

    /// The key of batch records: not nil (nil marks a watermark marker) and not used for partitioning.
    private static let batchKeyByte = ObservationBatch.magic

    /// Sends every pending batch: after each poll batch, and before markers and commits, so that
    /// observations precede the markers that follow them and a commit covers what was routed.
    private func flushBatches() throws {
        for partition in pendingBatches.indices where pendingBatches[partition] != nil { try sendBatch(partition: Int32(partition)) }
    }

    /// Lends each event of an input record to `body` in place (`CloudTrailDecoder.decodeEach`: strings
    /// are made only for what the rule keeps), then dead-letters the record's bad members and counts.
    /// An event dated more than `time.max_future_skew` ahead of the wall clock is not lent: it
    /// would move the watermark into the future. It is dead-lettered with the record's other problems.
    /// Returns whether any event was lent (the record yielded an event time).
    @discardableResult
    private func forEachEvent(of m: KafkaMessage, _ body: (EventFields) throws -> Void) throws -> Bool {
        decodeResult.removeAll()
        var decoded = 0
        var future = 0
        let latestAccepted = clock.millisecondsSinceEpoch + maxFutureSkewMilliseconds
        try m.withValueBytes { bytes in
            try decoder.decodeEach(bytes, into: &decodeResult) { event in
                decoded += 1
                guard event.eventTime.millisecondsSinceEpoch <= latestAccepted else {
                    future += 1
                    return
                }
                try body(event)
            }
        }
        if future > 0 || !decodeResult.errors.isEmpty {
            try deadLetter(m, problems: RecordProblems(errors: decodeResult.errors, futureEvents: future,
                                                       maxFutureSkew: configuration.detector.maxFutureSkew))
        }
        counters.eventsPrefiltered += decodeResult.filtered
        counters.eventsDecoded += decoded
        return decoded > future
    }

    /// Keyed input: decode and evaluate here, then straight into the detector.
    private func detectFromInput(_ m: KafkaMessage, _ tp: KafkaTopicPartition) throws {
        let now = clock
        let id: Int32
        var cached = false
        if let last = lastInput, last.tp == tp {
            id = last.id
            cached = true
        } else {
            id = try detectState(tp).id
        }
        let origin = EventOrigin(topic: tp.topic, partition: tp.partition, offset: m.offset)
        var processedAny = false
        let yielded = try forEachEvent(of: m) { event in
            switch rule.keep(event) {
            case .success(let kept):
                // Into the windows from the input's bytes: no strings but those a window keeps.
                try record(detector.process(kept, origin: origin, partition: id, offset: m.offset, now: now),
                           consumedAt: now.millisecondsSinceEpoch)
                processedAny = true
            case .failure(let reason):
                counters.eventsRejected[reason.label, default: 0] += 1
            }
        }
        if !processedAny { detector.noteActivity(partition: id, offset: m.offset, now: now) }
        // Only a record that yields an event time keeps the partition from idling (see `route`).
        if yielded {
            if !cached {
                if detects[tp]?.caughtUp == true {
                    detects[tp]?.caughtUp = false
                    detector.setCaughtUp(partition: id, false, now: now)
                }
                lastInput = (tp, id)
            }
        } else if detects[tp]?.caughtUp == false {
            detects[tp]?.caughtUp = true
            lastInput = nil  // the next record with an event time clears the flag again
            detector.setCaughtUp(partition: id, true, now: now)
        }
    }

    private func detectFromRepartition(_ m: KafkaMessage, _ tp: KafkaTopicPartition) throws {
        var state = try detectState(tp)
        let now = clock
        let isMarker = m.withKeyBytes { $0 == nil }
        if isMarker {
            /// Counts, logs (rate-limited) and steps over a marker that is not taken.
            func refuse(_ reason: String, _ message: Logger.Message, _ metadata: Logger.Metadata = [:]) {
                counters.watermarksRefused[reason, default: 0] += 1
                warnings.warning(logger, message, reason: reason,
                                 metadata: metadata.merging([LogKeys.partition: "\(tp)", LogKeys.offset: "\(m.offset)"]) { $1 })
                detector.noteActivity(partition: state.id, offset: m.offset, now: now)
            }
            guard let marker = m.withValueBytes({ WatermarkMarker.decode($0) }) else {
                refuse("unreadable_marker", "unreadable watermark marker")
                return
            }
            guard marker.isWithin(now.millisecondsSinceEpoch + maxFutureSkewMilliseconds) else {
                refuse("marker_in_future", "watermark marker beyond time.max_future_skew refused", [
                    "upstream": "\(marker.upstreamKey)", "watermark": "\(marker.watermark.map(String.init) ?? "none")",
                    "wall_watermark": "\(marker.wallWatermark)",
                ])
                return
            }
            if !inputPartitions.contains(topic: marker.topic, partition: marker.partition) { refreshInputPartitions() }
            state.upstream[marker.upstreamKey] = marker
            detects[tp] = state
            detector.noteActivity(partition: state.id, offset: m.offset, now: now)
            if let minimum = UpstreamWatermark.minimum(state.upstream, over: inputPartitions.keys, emptyPartitionTimeout: emptyPartitionTimeout) {
                try sendAlerts(detector.advance(partition: state.id, externalWatermark: EventTime(millisecondsSinceEpoch: minimum), now: now))
            }
            return
        }
        // Read in place: the whole record is checked first (one bad observation dead-letters the
        // record and none of it counts), then its observations go into the windows from its bytes.
        var lent: [EncodedObservation] = []
        swap(&lent, &batchObservations)  // moved, not copied, so its storage is reused
        defer {
            lent.removeAll(keepingCapacity: true)
            swap(&lent, &batchObservations)
        }
        try m.withValueBytes { value in
            var problem: String?
            if ObservationBatch.isBatch(value) {
                do { try ObservationBatch.read(value, into: &lent) } catch { problem = "\(error)" }
            } else {
                do { lent.append(try EncodedObservation.read(value)) } catch { problem = "\(error)" }
            }
            if let problem {
                var problems = RecordProblems()
                problems.add(reason: "bad_observation", detail: problem, index: nil)
                try deadLetter(m, problems: problems)
                return
            }
            // The batch record's timestamp is when the route stage consumed its first event.
            let consumedAt = m.timestampMilliseconds ?? now.millisecondsSinceEpoch
            for observation in lent {
                try record(detector.process(observation, partition: state.id, offset: m.offset, now: now), consumedAt: consumedAt)
            }
        }
    }

    /// `consumedAt`: when the event was consumed (wall clock, ms), for the open-alert latency.
    private func record(_ result: ProcessResult, consumedAt: Int64) throws {
        counters.observationsProcessed += 1
        switch result.outcome {
        case .late:
            counters.eventsLate += 1
        case .refused:
            counters.windowsRefused += 1
            warnings.warning(logger, "state full: a new window was refused (state.max_windows)", reason: "state_full", metadata: [
                "max_windows": "\(configuration.detector.maxWindows)", "windows": "\(detector.windowCount)",
            ])
        default:
            break
        }
        try sendAlerts(result.alerts, consumedAt: consumedAt)
    }

    private func detectState(_ tp: KafkaTopicPartition) throws -> DetectState {
        if let s = detects[tp] { return s }
        // Assigned partitions get their state in `partitionsAssigned`; this is only a fallback.
        let s = DetectState(id: detectorID(tp))
        detects[tp] = s
        return s
    }

    /// A marker named an input partition not known here: partitions were added while running. The
    /// metadata decides (a forged marker for a partition that does not exist adds nothing), at most
    /// every 10 s; from then on the new partition's markers take part in the minimum.
    private func refreshInputPartitions() {
        let now = ContinuousClock.now
        if let last = lastPartitionRefresh, now - last < .seconds(10) { return }
        lastPartitionRefresh = now
        guard let counts = try? admin.partitionCounts(timeout: .seconds(5)) else { return }
        let added = inputPartitions.add(configuration.inputTopics, counts: counts)
        guard !added.isEmpty else { return }
        logger.info("input partitions added", metadata: [LogKeys.partitions: "\(added)"])
    }

    /// Detector partitions are Int32: one number per (topic, partition) this process may read.
    private func detectorID(_ tp: KafkaTopicPartition) -> Int32 {
        if tp.topic == repartitionTopic { return tp.partition }
        let index = configuration.inputTopics.firstIndex(of: tp.topic) ?? 0
        return Int32(index) * 100_000 + tp.partition
    }

    private func newWatermarks() -> BoundedOutOfOrdernessWatermarks {
        BoundedOutOfOrdernessWatermarks(
            maxOutOfOrderness: configuration.detector.maxOutOfOrderness, idleTimeout: configuration.detector.idleTimeout)
    }

    // MARK: output

    /// Backpressure: while librdkafka's queue is full this waits (fetching stops with it, so memory
    /// stays bounded by the consumer's fetch queue); it never drops a record.
    /// `consumedAt` (wall clock, ms) has the delivery report measure the record's latency from then
    /// (`DeliveryTracker.takeLatencies`).
    private func send(topic: String, partition: Int32?, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = [],
                      timestampMilliseconds: Int64? = nil, consumedAt: Int64? = nil) throws {
        // Exactly-once replay of a record refused in an aborted transaction (`RefusedRecords`).
        switch refused.disposition(headers: headers) {
        case .send:
            break
        case .cutForm:
            try sendCutForm(of: KafkaProducedRecord(topic: topic, key: key, value: value, headers: headers),
                            refusedBy: KafkaError(code: .messageTooLarge, message: "refused in an aborted transaction"))
            return
        case .giveUp:
            logger.error("a record whose cut form the dead-letter topic refused is given up", metadata: [
                LogKeys.topic: "\(topic)", "alert_id": "\(headers.first { $0.name == OutputRecords.Header.alertID }?.stringValue ?? "-")",
            ])
            return
        }
        let tag = deliveries.issue(measuringFrom: consumedAt)
        while true {
            do {
                try producer.send(topic: topic, partition: partition, key: key, value: value, headers: headers,
                                  timestampMilliseconds: timestampMilliseconds, tag: tag, queueFullTimeout: .seconds(10))
                return
            } catch {
                if RefusedRecords.isRefusal(error.code), topic == configuration.outputTopic || topic == configuration.deadLetterTopic {
                    // librdkafka's own size check (nothing was enqueued): the cut form at once.
                    deliveries.reported(tag, error: nil)
                    try sendCutForm(of: KafkaProducedRecord(topic: topic, key: key, value: value, headers: headers), refusedBy: error)
                    return
                }
                guard error.code == .queueFull, !stopRequested() else {
                    deliveries.reported(tag, error: nil)  // never enqueued: no report will come; thrown here
                    // Asked to stop with the queue still full (the broker away): give up rather than
                    // wait; nothing past the last commit is lost, a restart replays it.
                    throw error.code == .queueFull
                        ? KafkaError(code: .queueFull, message: "stopping with the producer queue full: the broker is away", isFatal: true)
                        : error
                }
                onProgress?()
                logger.warning("producer queue full for 10 s: the broker is slow or away; waiting", metadata: [LogKeys.topic: "\(topic)"])
            }
        }
    }

    /// `send` of a record built by `OutputRecords` or `RefusedRecords`.
    private func send(_ r: KafkaProducedRecord, consumedAt: Int64? = nil) throws {
        try send(topic: r.topic, partition: nil, key: r.key, value: r.value, headers: r.headers, consumedAt: consumedAt)
    }

    /// `consumedAt`: when the event that brought these alerts was consumed; an `open` alert's first
    /// revision is then measured from it to its acknowledgement (`tokentrail_open_alert_latency_seconds`).
    private func sendAlerts(_ alerts: [Alert], consumedAt: Int64? = nil) throws {
        for alert in alerts {
            let measured = alert.status == .open && alert.revision == 1 ? consumedAt : nil
            try send(OutputRecords.alert(alert, topic: configuration.outputTopic, format: configuration.alertFormat), consumedAt: measured)
            counters.alertsProduced[alert.status.rawValue, default: 0] += 1
            logger.notice("alert", metadata: [
                "alert_id": "\(alert.id)", "status": "\(alert.status.rawValue)", "revision": "\(alert.revision)",
                "principal": "\(alert.principal.arn)", "addresses": "\(alert.sourceAddresses.count)",
                "window_start": "\(alert.window.start)",
            ])
        }
    }

    /// One dead letter per input record, whatever it held (`OutputRecords.deadLetter`).
    private func deadLetter(_ m: KafkaMessage, problems: RecordProblems) throws {
        guard let first = problems.first,
              let r = OutputRecords.deadLetter(m, problems: problems, topic: configuration.deadLetterTopic,
                                               maxBytes: configuration.deadLetterMaxBytes) else { return }
        try send(r)
        for (reason, n) in problems.counts { counters.deadLettered[reason, default: 0] += n }
        warnings.warning(logger, "dead-lettered a record", reason: first.reason, metadata: [
            "errors": "\(problems.summary)", LogKeys.topic: "\(m.topic)", LogKeys.partition: "\(m.partition)",
            LogKeys.offset: "\(m.offset)",
        ])
    }

    // MARK: timers

    private func tick() throws {
        warnings.flush(logger)
        try flushBatches()
        let now = Self.wallClock
        let bound = configuration.detector.maxOutOfOrderness.milliseconds
        let idleAfter = configuration.detector.idleTimeout?.milliseconds
        for (tp, var state) in routes {
            let w = state.watermarks
            let idleFor = w.lastActivity.map { now.millisecondsSinceEpoch - $0.millisecondsSinceEpoch } ?? 0
            let idle = w.isCaughtUp && idleAfter.map { idleFor >= $0 } ?? false
            let marker = WatermarkMarker(
                topic: tp.topic, partition: tp.partition, watermark: w.watermark?.millisecondsSinceEpoch,
                idle: idle, idleMilliseconds: idle ? idleFor : 0, wallWatermark: now.millisecondsSinceEpoch - bound)
            // Unchanged and active: nothing new to say. Idle markers repeat so the wall clock moves on.
            if let last = state.lastMarker, last.watermark == marker.watermark, last.idle == marker.idle, !idle { continue }
            let bytes = marker.encoded()
            for r in 0..<Int32(repartitionPartitions) {
                try send(topic: repartitionTopic, partition: r, key: nil, value: bytes)
            }
            counters.markersSent += 1
            state.lastMarker = marker
            routes[tp] = state
        }
        try sendAlerts(detector.tick(now: now))
    }

    // MARK: commits

    private func beginTransaction() throws {
        try producer.beginTransaction()
        transactionOpen = true
    }

    /// What a commit writes: the offsets and a checkpoint per owned partition, as of now.
    private func commitPoint() -> (owned: [KafkaTopicPartition], offsets: [KafkaTopicPartitionOffset], records: [PartitionCheckpoint]) {
        var offsets: [KafkaTopicPartitionOffset] = []
        var records: [PartitionCheckpoint] = []
        for (tp, r) in routes {
            guard let next = r.nextOffset else { continue }
            offsets.append(KafkaTopicPartitionOffset(tp, KafkaOffset(next)))
            records.append(PartitionCheckpoint(group: configuration.groupID, topic: tp.topic, partition: tp.partition, offset: next,
                                               next: next, watermark: r.watermarks.watermark?.millisecondsSinceEpoch))
        }
        for (tp, d) in detects {
            guard let cp = detector.checkpoint(partition: d.id) else { continue }
            offsets.append(KafkaTopicPartitionOffset(tp, KafkaOffset(cp.safeOffset)))
            records.append(PartitionCheckpoint(group: configuration.groupID, topic: tp.topic, partition: tp.partition,
                                               offset: cp.safeOffset, next: cp.nextOffset,
                                               watermark: cp.watermark?.millisecondsSinceEpoch,
                                               upstream: configuration.inputKeyed ? nil : d.upstream))
        }
        return (Array(routes.keys) + Array(detects.keys), offsets, records)
    }

    /// Acknowledge output, write checkpoints, commit offsets: in that order (see the type's doc).
    /// Blocking; used for exactly-once, before partitions leave, and at stop. It supersedes an
    /// at-least-once commit under way.
    private func commit() throws {
        try flushBatches()
        pendingCommit = nil
        let started = ContinuousClock.now
        let (owned, offsets, records) = commitPoint()
        switch configuration.processingGuarantee {
        case .atLeastOnce:
            // A slow or unreachable broker postpones the commit (the next interval tries again);
            // a record the broker refused is dead-lettered in a cut form, or stops the process
            // (see handleDeliveryFailures).
            do {
                repeat { try producer.flush(timeout: .seconds(30)) } while try handleDeliveryFailures()
                for cp in records { try writeCheckpoint(cp) }
                repeat { try producer.flush(timeout: .seconds(30)) } while try handleDeliveryFailures()
                try consumer.commit(offsets)
            } catch let e as KafkaError where !e.isFatal {
                logger.warning("commit postponed: \(e.message)", metadata: [LogKeys.errorCode: "\(e.code)"])
                return
            }
        case .exactlyOnce:
            for cp in records { try writeCheckpoint(cp) }
            if !offsets.isEmpty { try retrying("send offsets to the transaction") { () throws(KafkaError) in try producer.sendOffsetsToTransaction(offsets, consumer: consumer) } }
            try retrying("commit transaction") { () throws(KafkaError) in try producer.commitTransaction() }
            transactionOpen = false
            // What a crash can lose starts here (tests use it to tell a broker's fault from ours).
            logger.debug("transaction committed", metadata: ["commits": "\(counters.commits + 1)"])
            _ = try handleDeliveryFailures()
            try beginTransaction()
        }
        counters.commits += 1
        if let onCommit { onCommit(snapshot(owned: owned, commitDuration: ContinuousClock.now - started)) }
    }

    /// The at-least-once commit without stopping the thread: the same order as `commit` (output
    /// acknowledged -> checkpoints acknowledged -> offsets committed), but each step waits for the
    /// delivery reports of what was sent before it while records keep being processed. A blocking
    /// commit stopped the thread for up to a second on a slow broker, and every alert whose trigger
    /// arrived meanwhile waited for it (docs/performance.md, latency).
    private func startCommit() throws {
        try flushBatches()
        let (owned, offsets, records) = commitPoint()
        pendingCommit = PendingCommit(stage: .output, barrier: deliveries.issued, offsets: offsets, checkpoints: records,
                                      owned: owned, started: .now)
    }

    private func advanceCommit() throws {
        guard var pending = pendingCommit, deliveries.allReported(before: pending.barrier) else {
            if let pending = pendingCommit, !pending.warned, ContinuousClock.now - pending.started > .seconds(30) {
                logger.warning("commit waiting for the broker to acknowledge output", metadata: ["stage": "\(pending.stage)"])
                pendingCommit?.warned = true
            }
            return
        }
        if try handleDeliveryFailures() {
            // Cut forms of refused records were sent: the commit waits for them as well.
            pending.barrier = deliveries.issued
            pendingCommit = pending
            return
        }
        switch pending.stage {
        case .output:
            for cp in pending.checkpoints { try writeCheckpoint(cp) }
            pending.barrier = deliveries.issued
            pending.stage = .checkpoints
            pendingCommit = pending
            try advanceCommit()
        case .checkpoints:
            pendingCommit = nil
            do {
                try consumer.commitAsync(pending.offsets)
            } catch {
                guard !error.isFatal else { throw error }
                logger.warning("commit postponed: \(error.message)", metadata: [LogKeys.errorCode: "\(error.code)"])
                return
            }
            counters.commits += 1
            if let onCommit { onCommit(snapshot(owned: pending.owned, commitDuration: ContinuousClock.now - pending.started)) }
        }
    }

    /// Progress per owned partition and the detector's state, for gauges (commit time only).
    private func snapshot(owned: [KafkaTopicPartition], commitDuration: Duration) -> PipelineSnapshot {
        var positions: [KafkaTopicPartition: Int64] = [:]
        if let p = try? consumer.position(owned) {
            for tpo in p where tpo.offset.rawValue >= 0 { positions[tpo.topicPartition] = tpo.offset.rawValue }
        }
        let progress = owned.map { tp -> PartitionProgress in
            let watermark: Int64?
            if let r = routes[tp] {
                watermark = r.watermarks.watermark?.millisecondsSinceEpoch
            } else if let d = detects[tp] {
                watermark = detector.watermark(partition: d.id)?.millisecondsSinceEpoch
            } else {
                watermark = nil
            }
            var lag: Int64?
            if let position = positions[tp], let marks = try? consumer.watermarks(tp, cached: true), marks.high >= 0 {
                lag = max(0, marks.high - position)
            }
            return PartitionProgress(partition: tp, watermark: watermark, lag: lag)
        }
        return PipelineSnapshot(counters: counters, owned: owned, partitions: progress, detector: stateSummary(),
                                commitDuration: commitDuration, openAlertLatencies: deliveries.takeLatencies(), joined: joinedGroup)
    }

    /// The detector's summary for the state gauges. It walks every window on this thread, so it is
    /// taken again only after a hundred times its own duration: the gauges cost at most about 1 % of
    /// the thread, are as fresh as the commits while the state is small, and never more than 30 s old.
    private func stateSummary() -> DetectorSummary {
        let now = ContinuousClock.now
        if let last = lastSummary, now - last.at < min(last.took * 100, .seconds(30)) { return last.summary }
        let summary = detector.summary()
        lastSummary = (summary, now, ContinuousClock.now - now)
        return summary
    }

    private func writeCheckpoint(_ cp: PartitionCheckpoint) throws {
        try send(topic: checkpointTopic, partition: checkpoints.checkpointPartition(for: cp.partition),
                 key: Array(cp.key.utf8), value: cp.encoded())
    }

    /// Takes the delivery failures. An alert or dead letter refused for what it is goes to the
    /// dead-letter topic in a cut form (`RefusedRecords`): at once at-least-once (returns true: the
    /// commit must wait for it too); exactly-once it is remembered and the transaction aborted, and
    /// the replay sends the cut form. Any other failure is not retried here: at-least-once the
    /// process stops before committing past it (a restart replays it); exactly-once the transaction
    /// is aborted and the partitions rewound (`abortAndRewind`).
    private func handleDeliveryFailures() throws -> Bool {
        let failures = deliveries.takeFailures()
        guard !failures.isEmpty else { return false }
        let exactlyOnce = configuration.processingGuarantee == .exactlyOnce
        var other: [KafkaError] = []
        var sent = false
        for failure in failures {
            guard let record = failure.record, RefusedRecords.isRefusal(failure.error.code),
                  record.topic == configuration.outputTopic || record.topic == configuration.deadLetterTopic else {
                other.append(failure.error)
                continue
            }
            if exactlyOnce {
                refused.rememberRefusal(of: record)
                other.append(failure.error)
            } else {
                sent = try sendCutForm(of: record, refusedBy: failure.error) || sent
            }
        }
        if let first = other.first {
            throw KafkaError(code: first.code, message: "\(other.count) record(s) not delivered: \(first.message)",
                             isFatal: !exactlyOnce)
        }
        return sent
    }

    /// Sends a refused record's cut form to the dead-letter topic, counted and logged; false when the
    /// record already was a cut form (given up, logged as an error).
    @discardableResult
    private func sendCutForm(of record: KafkaProducedRecord, refusedBy error: KafkaError) throws -> Bool {
        guard let cut = RefusedRecords.cutForm(of: record, refusedBy: error, deadLetterTopic: configuration.deadLetterTopic) else {
            logger.error("the dead-letter topic refused the cut form of a refused record: given up", metadata: [
                LogKeys.topic: "\(record.header(RefusedRecords.refusedTopicHeader) ?? "?")", LogKeys.errorCode: "\(error.code)",
                "alert_id": "\(record.header(OutputRecords.Header.alertID) ?? "-")",
            ])
            return false
        }
        logger.error("the broker refused a record: it goes to the dead-letter topic in a cut form", metadata: [
            LogKeys.topic: "\(record.topic)", LogKeys.errorCode: "\(error.code)", "bytes": "\(record.value.count)",
            "alert_id": "\(record.header(OutputRecords.Header.alertID) ?? "-")",
        ])
        counters.deadLettered[RefusedRecords.reason, default: 0] += 1
        try send(cut)
        return true
    }

    /// Repeats a transactional call that timed out (the broker away): librdkafka requires the same
    /// call again, not another one, until it completes or fails otherwise. Gives up when `run` stops.
    private func retrying(_ what: String, _ call: () throws(KafkaError) -> Void) throws {
        var attempts = 0
        while true {
            var failure: KafkaError?
            do { try call() } catch { failure = error }
            guard let failure else { return }
            if failure.isFatal || failure.requiresAbort || !failure.isRetriable || stopRequested() { throw failure }
            attempts += 1
            if attempts == 1 || attempts % 10 == 0 {
                logger.warning("\(what) timed out; retrying while the broker is away", metadata: ["attempts": "\(attempts)", "error": "\(failure.message)"])
            }
            onProgress?()
            Thread.sleep(forTimeInterval: 1)
        }
    }

    /// Exactly-once: aborts the open transaction (retrying while the broker is away, until `run` stops)
    /// and rewinds every owned partition to its last committed checkpoint: the replay produces again
    /// what the aborted transaction held, and a `read_committed` reader never saw it.
    private func abortAndRewind(after error: KafkaError) throws {
        logger.warning("transaction aborted; rewinding to the last commit", metadata: [
            LogKeys.errorCode: "\(error.code)", "error": "\(error.message)",
        ])
        rewindNeeded = nil
        if transactionOpen {
            try retrying("abort transaction") { () throws(KafkaError) in try producer.abortTransaction() }
            transactionOpen = false
        }
        // The aborted transaction's failures: records refused for what they are are remembered (the
        // replay sends their cut form); the rest is produced again by the replay.
        for failure in deliveries.takeFailures() {
            if let record = failure.record, RefusedRecords.isRefusal(failure.error.code) { refused.rememberRefusal(of: record) }
        }
        for i in pendingBatches.indices { pendingBatches[i] = nil }
        let owned = Array(routes.keys) + Array(detects.keys)
        drop(owned)
        var starts = restore(owned)
        let rest = owned.filter { starts[$0] == nil }
        if !rest.isEmpty {
            for tpo in try consumer.committed(rest) where tpo.offset.rawValue >= 0 { starts[tpo.topicPartition] = tpo.offset }
        }
        if !owned.isEmpty {
            try consumer.seek(owned.map { KafkaTopicPartitionOffset($0, starts[$0] ?? .beginning) })
        }
        counters.transactionsAborted += 1
        try beginTransaction()
    }

    // MARK: rebalances (on the polling thread, inside poll)

    public func partitionsAssigned(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: KafkaOffset] {
        counters.rebalances += 1
        joinedGroup = true
        // New partitions may hold a backlog; one not yet read through keeps its start.
        backlog.caughtUp = false
        return restore(partitions)
    }

    /// Sets up `partitions` from their latest checkpoints; returns where to start reading those that
    /// have one (the others start at their committed offset).
    private func restore(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: KafkaOffset] {
        let found: [KafkaTopicPartition: PartitionCheckpoint]
        do {
            found = try checkpoints.latest(for: partitions)
        } catch {
            // Without checkpoints the committed offsets are still safe (never past an open window),
            // only watermarks restart from nothing.
            logger.error("could not read checkpoints; starting from committed offsets: \(error)")
            found = [:]
        }
        for (tp, why) in checkpoints.unusable {
            counters.watermarksRefused["checkpoint_unreadable", default: 0] += 1
            logger.error("newest checkpoint unusable; starting from the committed offset", metadata: [LogKeys.partition: "\(tp)", "problem": "\(why)"])
        }
        var starts: [KafkaTopicPartition: KafkaOffset] = [:]
        let limit = Self.wallClock.millisecondsSinceEpoch + maxFutureSkewMilliseconds
        for tp in partitions {
            var cp = found[tp]
            if let c = cp, !c.isWithin(limit) {
                // A watermark from the future would fire every window at once and make all input late.
                counters.watermarksRefused["checkpoint_in_future", default: 0] += 1
                logger.error("checkpoint watermark beyond time.max_future_skew refused; starting from the committed offset", metadata: [
                    LogKeys.partition: "\(tp)", "offset": "\(c.offset)", "watermark": "\(c.watermark.map(String.init) ?? "none")",
                ])
                cp = nil
            }
            if inputTopics.contains(tp.topic), !configuration.inputKeyed {
                var wm = newWatermarks()
                if let w = cp?.watermark { _ = wm.advance(to: EventTime(millisecondsSinceEpoch: w)) }
                routes[tp] = RouteState(watermarks: wm, nextOffset: nil, lastMarker: nil)
                if let cp { starts[tp] = KafkaOffset(cp.offset) }
            } else {
                let id = detectorID(tp)
                let mode: WatermarkMode = configuration.inputKeyed ? .boundedOutOfOrderness : .external
                var state = DetectState(id: id)
                if let cp {
                    detector.restore(partition: id, from: DetectorCheckpoint(
                        safeOffset: cp.offset, watermark: cp.watermark.map { EventTime(millisecondsSinceEpoch: $0) }, nextOffset: cp.next), mode: mode)
                    state.upstream = cp.upstream ?? [:]
                    starts[tp] = KafkaOffset(cp.offset)
                } else {
                    detector.assign(partition: id, mode: mode)
                }
                detects[tp] = state
            }
            logger.info("partition assigned", metadata: [
                LogKeys.partition: "\(tp)", "checkpoint": "\(cp.map { "offset \($0.offset), watermark \($0.watermark.map { String($0) } ?? "none")" } ?? "none")",
            ])
        }
        return starts
    }

    public func partitionsRevoked(_ partitions: [KafkaTopicPartition]) {
        counters.rebalances += 1
        do {
            try commit()
        } catch {
            logger.error("commit on revoke failed; the next owner replays from the last commit: \(error)")
            // A record not delivered: the partitions that stay must not commit past it either.
            if let e = error as? KafkaError, e.isFatal { deferredFailure = e }
            if configuration.processingGuarantee == .exactlyOnce { rewindNeeded = "commit on revoke failed: \(error)" }
        }
        drop(partitions)
    }

    public func partitionsLost(_ partitions: [KafkaTopicPartition]) {
        counters.rebalances += 1
        pendingCommit = nil  // its offsets may name partitions that are gone
        logger.warning("partitions lost without a hand-over", metadata: [LogKeys.partitions: "\(partitions)"])
        // The open transaction holds output of partitions another member now owns.
        if configuration.processingGuarantee == .exactlyOnce, transactionOpen { rewindNeeded = "partitions lost" }
        drop(partitions)
    }

    private func drop(_ partitions: [KafkaTopicPartition]) {
        lastInput = nil
        for tp in partitions {
            routes[tp] = nil
            if let d = detects.removeValue(forKey: tp) { detector.drop(partition: d.id) }
        }
    }
}
