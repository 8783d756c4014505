import CloudTrail
import Detection
import KafkaClient
import Logging

/// The detect stage: observations into the windowed detector, alerts out. It reads either the keyed
/// input itself (`input`, watermarks from the partitions' own events) or the repartition topic
/// (`repartition`: batches from the route stage, and its markers, whose minimum over every input
/// partition is the watermark). No I/O: what to send goes to `StageOutput`.
struct DetectStage {
    struct PartitionState {
        /// The detector's number for this partition (`detectorID`).
        var id: Int32
        /// Repartition partitions: the latest marker of each input partition.
        var upstream: [String: WatermarkMarker] = [:]
        var caughtUp = false
    }

    private(set) var detector: WindowedDetector
    private(set) var partitions: [KafkaTopicPartition: PartitionState] = [:]
    /// Every input partition that exists: the watermark is the minimum of their markers.
    private(set) var inputPartitions: InputPartitions
    private let settings: Settings
    /// The keyed input partition of the last record and its detector id, while no end of partition has
    /// been seen since: records come in runs per partition, so the lookup is saved on all but the first.
    private var lastInput: (tp: KafkaTopicPartition, id: Int32)?
    /// A batch's observations, read in place; its storage is reused from record to record.
    private var observations: [EncodedObservation] = []

    struct Settings {
        let repartitionTopic: String
        let inputTopics: [String]
        let mode: WatermarkMode
        /// `time.empty_partition_timeout`, ms (`UpstreamWatermark`).
        let emptyPartitionTimeout: Int64
        /// `time.max_future_skew`, ms: markers past it are refused.
        let maxFutureSkew: Int64
        let maxWindows: Int
    }

    init(configuration: PipelineConfiguration, mode: WatermarkMode, inputPartitions: InputPartitions) {
        var detectorConfig = configuration.detector
        detectorConfig.defaultWatermarkMode = mode
        detector = WindowedDetector(detectorConfig)
        self.inputPartitions = inputPartitions
        settings = Settings(
            repartitionTopic: configuration.effectiveRepartitionTopic, inputTopics: configuration.inputTopics, mode: mode,
            emptyPartitionTimeout: configuration.detector.effectiveEmptyPartitionTimeout.milliseconds,
            maxFutureSkew: configuration.detector.maxFutureSkew.milliseconds, maxWindows: configuration.detector.maxWindows)
    }

    var owned: [KafkaTopicPartition] { Array(partitions.keys) }
    var isCaughtUp: Bool { partitions.values.allSatisfy(\.caughtUp) }
    func watermark(_ tp: KafkaTopicPartition) -> Int64? {
        partitions[tp].flatMap { detector.watermark(partition: $0.id)?.millisecondsSinceEpoch }
    }

    // MARK: keyed input

    /// `tp` is `m`'s (each `m.topic` of a librdkafka message makes a new string).
    mutating func input(_ m: some ConsumedRecord, _ tp: KafkaTopicPartition, now: EventTime, intake: EventIntake,
                        output: inout StageOutput) {
        let id: Int32
        var cached = false
        if let last = lastInput, last.tp == tp {
            id = last.id
            cached = true
        } else {
            id = state(tp).id
        }
        let origin = EventOrigin(topic: tp.topic, partition: tp.partition, offset: m.offset)
        let offset = m.offset
        let consumedAt = now.millisecondsSinceEpoch
        let yield = intake.read(m, now: now, output: &output) { kept, output in
            // Into the windows from the input's bytes: no strings but those a window keeps.
            record(detector.process(kept, origin: origin, partition: id, offset: offset, now: now), consumedAt: consumedAt, output: &output)
        }
        if yield.kept == 0 { detector.noteActivity(partition: id, offset: offset, now: now) }
        // Only a record that yields an event time keeps the partition from idling (see `RouteStage.route`).
        if yield.latest != nil {
            if !cached {
                if partitions[tp]?.caughtUp == true {
                    partitions[tp]?.caughtUp = false
                    detector.setCaughtUp(partition: id, false, now: now)
                }
                lastInput = (tp, id)
            }
        } else if partitions[tp]?.caughtUp == false {
            partitions[tp]?.caughtUp = true
            lastInput = nil  // the next record with an event time clears the flag again
            detector.setCaughtUp(partition: id, true, now: now)
        }
    }

    // MARK: repartition topic

    /// A batch of observations or a watermark marker. A marker that names an input partition not known
    /// here (partitions added while running) asks `partitionCounts` for the metadata, which decides: a
    /// forged marker for a partition that does not exist adds nothing.
    mutating func repartition(
        _ m: some ConsumedRecord, _ tp: KafkaTopicPartition, now: EventTime, output: inout StageOutput,
        partitionCounts: () -> [String: Int]?
    ) {
        let id = state(tp).id
        if m.withKeyBytes({ $0 == nil }) {
            marker(m, tp: tp, id: id, now: now, output: &output, partitionCounts: partitionCounts)
            return
        }
        // The whole record is checked first (one bad observation dead-letters the record and none of
        // it counts), then its observations go into the windows from its bytes.
        var problem: String?
        m.withValueBytes { value in
            observations.removeAll(keepingCapacity: true)
            do {
                if ObservationBatch.isBatch(value) {
                    try ObservationBatch.read(value, into: &observations)
                } else {
                    observations.append(try EncodedObservation.read(value))
                }
            } catch {
                problem = "\(error)"
                return
            }
            // The batch record's timestamp is when the route stage consumed its first event.
            let consumedAt = m.timestampMilliseconds ?? now.millisecondsSinceEpoch
            for observation in observations {
                record(detector.process(observation, partition: id, offset: m.offset, now: now), consumedAt: consumedAt, output: &output)
            }
        }
        if let problem {
            var problems = RecordProblems()
            problems.add(reason: "bad_observation", detail: problem, index: nil)
            output.deadLetter(m, problems: problems)
        }
    }

    private mutating func marker(
        _ m: some ConsumedRecord, tp: KafkaTopicPartition, id: Int32, now: EventTime, output: inout StageOutput,
        partitionCounts: () -> [String: Int]?
    ) {
        detector.noteActivity(partition: id, offset: m.offset, now: now)
        func refuse(_ reason: String, _ message: Logger.Message, _ metadata: Logger.Metadata = [:]) {
            output.counters.watermarksRefused[reason, default: 0] += 1
            output.warn(message, reason: reason,
                        metadata: metadata.merging([LogKeys.partition: "\(tp)", LogKeys.offset: "\(m.offset)"]) { $1 })
        }
        guard let marker = m.withValueBytes({ WatermarkMarker.decode($0) }) else {
            refuse("unreadable_marker", "unreadable watermark marker")
            return
        }
        guard marker.isWithin(now.millisecondsSinceEpoch + settings.maxFutureSkew) else {
            refuse("marker_in_future", "watermark marker beyond time.max_future_skew refused", [
                "upstream": "\(marker.upstreamKey)", "watermark": "\(marker.watermark.map(String.init) ?? "none")",
                "wall_watermark": "\(marker.wallWatermark)",
            ])
            return
        }
        if !inputPartitions.contains(topic: marker.topic, partition: marker.partition), let counts = partitionCounts() {
            let added = inputPartitions.add(settings.inputTopics, counts: counts)
            if !added.isEmpty { output.logger.info("input partitions added", metadata: [LogKeys.partitions: "\(added)"]) }
        }
        partitions[tp, default: PartitionState(id: id)].upstream[marker.upstreamKey] = marker
        advance(tp, now: now, output: &output)
    }

    /// The watermark of repartition partition `tp` to the minimum over every input partition's marker.
    private mutating func advance(_ tp: KafkaTopicPartition, now: EventTime, output: inout StageOutput) {
        guard let state = partitions[tp],
              let minimum = UpstreamWatermark.minimum(state.upstream, over: inputPartitions.keys,
                                                      emptyPartitionTimeout: settings.emptyPartitionTimeout)
        else { return }
        output.alerts(detector.advance(partition: state.id, externalWatermark: EventTime(millisecondsSinceEpoch: minimum), now: now))
    }

    // MARK: shared

    private mutating func record(_ result: ProcessResult, consumedAt: Int64, output: inout StageOutput) {
        output.counters.observationsProcessed += 1
        switch result.outcome {
        case .late:
            output.counters.eventsLate += 1
        case .refused:
            output.counters.windowsRefused += 1
            output.warn("state full: a new window was refused (state.max_windows)", reason: "state_full", metadata: [
                "max_windows": "\(settings.maxWindows)", "windows": "\(detector.windowCount)",
            ])
        default:
            break
        }
        if !result.alerts.isEmpty { output.alerts(result.alerts, consumedAt: consumedAt) }
    }

    /// The consumer is at the end of `tp`; false when `tp` is not read here.
    mutating func endOfPartition(_ tp: KafkaTopicPartition, now: EventTime) -> Bool {
        guard let d = partitions[tp] else { return false }
        if !d.caughtUp {
            partitions[tp]!.caughtUp = true
            lastInput = nil  // the next record reads the flag again
            detector.setCaughtUp(partition: d.id, true, now: now)
        }
        return true
    }

    /// Timers: idle advance and open-alert updates.
    mutating func tick(now: EventTime, output: inout StageOutput) {
        output.alerts(detector.tick(now: now))
    }

    private mutating func state(_ tp: KafkaTopicPartition) -> PartitionState {
        if let s = partitions[tp] { return s }
        // Assigned partitions get their state in `assign`; this is only a fallback.
        let s = PartitionState(id: detectorID(tp))
        partitions[tp] = s
        return s
    }

    /// Detector partitions are Int32: one number per (topic, partition) this process may read.
    private func detectorID(_ tp: KafkaTopicPartition) -> Int32 {
        if tp.topic == settings.repartitionTopic { return tp.partition }
        let index = settings.inputTopics.firstIndex(of: tp.topic) ?? 0
        return Int32(index) * 100_000 + tp.partition
    }

    // MARK: assignment

    /// Takes `tp` over, from its checkpoint when it has one.
    mutating func assign(_ tp: KafkaTopicPartition, checkpoint cp: PartitionCheckpoint?) {
        let id = detectorID(tp)
        var state = PartitionState(id: id)
        if let cp {
            detector.restore(partition: id, from: DetectorCheckpoint(
                safeOffset: cp.offset, watermark: cp.watermark.map { EventTime(millisecondsSinceEpoch: $0) }, nextOffset: cp.next,
                suppression: cp.incidents),
                mode: settings.mode)
            state.upstream = cp.upstream ?? [:]
        } else {
            detector.assign(partition: id, mode: settings.mode)
        }
        partitions[tp] = state
    }

    mutating func drop(_ tp: KafkaTopicPartition) {
        lastInput = nil
        if let d = partitions.removeValue(forKey: tp) { detector.drop(partition: d.id) }
    }

    /// The offset to commit (never past an open window's oldest record) and the checkpoint to write
    /// for each partition with a position.
    func commitEntries(group: String) -> [(offset: KafkaTopicPartitionOffset, checkpoint: PartitionCheckpoint)] {
        partitions.compactMap { tp, d in
            guard let cp = detector.checkpoint(partition: d.id) else { return nil }
            var checkpoint = PartitionCheckpoint(group: group, topic: tp.topic, partition: tp.partition, offset: cp.safeOffset,
                                                 next: cp.nextOffset, watermark: cp.watermark?.millisecondsSinceEpoch,
                                                 upstream: settings.mode == .external ? d.upstream : nil)
            checkpoint.incidents = cp.suppression
            return (KafkaTopicPartitionOffset(tp, KafkaOffset(cp.safeOffset)), checkpoint)
        }
    }

    func summary() -> DetectorSummary { detector.summary() }
}
