import CloudTrail
import Detection
import KafkaClient

/// The route stage (unkeyed input): decodes and keeps events, re-keys each kept event by its grouping
/// key into a batch per repartition partition, and broadcasts each input partition's watermark as
/// markers to every repartition partition. No I/O: what to send goes to `StageOutput`.
struct RouteStage {
    struct PartitionState {
        var watermarks: BoundedOutOfOrdernessWatermarks
        /// The offset after the last record routed: what a commit stores.
        var nextOffset: Int64?
        var lastMarker: WatermarkMarker?
    }

    /// A batch being filled, and when its first observation was consumed (wall clock, ms): the batch
    /// record's timestamp, from which the detect stage measures open-alert latency.
    struct PendingBatch {
        var batch = ObservationBatch()
        let consumedAt: Int64
    }

    /// The key of batch records: not nil (nil marks a watermark marker) and not used for partitioning.
    static let batchKey = [ObservationBatch.magic]

    let repartitionTopic: String
    let repartitionPartitions: Int32
    let maxOutOfOrderness: Duration
    let idleTimeout: Duration?
    /// `rule.suppression.by: issuer`: records are keyed by the issuer's part of the principal ARN
    /// (`SessionIssuer.partitioningPrefix`), so every session of one role lands on one partition.
    let routesByIssuer: Bool
    private(set) var partitions: [KafkaTopicPartition: PartitionState] = [:]
    /// Observations not sent yet, by repartition partition (see `ObservationBatch`).
    private var pending: [PendingBatch?]

    init(repartitionTopic: String, repartitionPartitions: Int, detector: DetectorConfiguration) {
        self.repartitionTopic = repartitionTopic
        self.repartitionPartitions = Int32(repartitionPartitions)
        maxOutOfOrderness = detector.maxOutOfOrderness
        idleTimeout = detector.idleTimeout
        routesByIssuer = detector.suppression.routesByIssuer
        pending = Array(repeating: nil, count: max(1, repartitionPartitions))
    }

    var owned: [KafkaTopicPartition] { Array(partitions.keys) }

    /// Every owned input partition is at its end.
    var isCaughtUp: Bool { partitions.values.allSatisfy(\.watermarks.isCaughtUp) }

    func watermark(_ tp: KafkaTopicPartition) -> Int64? { partitions[tp]?.watermarks.watermark?.millisecondsSinceEpoch }

    // MARK: records

    /// `tp` is `m`'s (each `m.topic` of a librdkafka message makes a new string).
    mutating func route(_ m: some ConsumedRecord, _ tp: KafkaTopicPartition, now: EventTime, intake: EventIntake,
                        output: inout StageOutput) {
        // Changed in place after one lookup; nothing below adds or removes partitions.
        let (bound, idle) = (maxOutOfOrderness, idleTimeout)
        let index = partitions.index(forKey: tp) {
            PartitionState(watermarks: BoundedOutOfOrdernessWatermarks(maxOutOfOrderness: bound, idleTimeout: idle))
        }
        let origin = EventOrigin(topic: tp.topic, partition: tp.partition, offset: m.offset)
        let consumedAt = now.millisecondsSinceEpoch
        let yield = intake.read(m, now: now, output: &output) { kept, output in
            add(kept, origin: origin, consumedAt: consumedAt, output: &output)
        }
        // One `onEvent` per record with its latest event time leaves the watermark where one per event
        // would (it only rises, and `now` is the record's). A record without an event time (garbage,
        // only refused future times) counts as an end of partition: a partition that keeps receiving
        // garbage never reaches its end, yet must be idle after `idle_timeout` like a silent one.
        if let latest = yield.latest {
            partitions.values[index].watermarks.setCaughtUp(false, now: now)
            partitions.values[index].watermarks.onEvent(latest, now: now)
        } else {
            partitions.values[index].watermarks.setCaughtUp(true, now: now)
        }
        partitions.values[index].nextOffset = m.offset + 1
    }

    /// Into the pending batch of the repartition partition librdkafka's default partitioner would pick
    /// for the grouping key, or the issuer (as if each observation were its own keyed record), encoded
    /// from the event's bytes: no string per event.
    private mutating func add(_ kept: KeptEvent, origin: EventOrigin, consumedAt: Int64, output: inout StageOutput) {
        let partition = repartitionPartitions > 0
            ? KafkaPartitioner.consistentRandom(key: UnsafeRawBufferPointer(kept.partitioningKeyUTF8(byIssuer: routesByIssuer)),
                                                partitions: repartitionPartitions)
            : 0
        let i = Int(partition)
        if pending[i] == nil { pending[i] = PendingBatch(consumedAt: consumedAt) }
        pending[i]!.batch.append(kept, origin: origin)
        output.counters.observationsRouted += 1
        if pending[i]!.batch.bytes.count >= ObservationBatch.targetBytes { send(partition: i, output: &output) }
    }

    private mutating func send(partition i: Int, output: inout StageOutput) {
        guard let batch = pending[i] else { return }
        pending[i] = nil
        output.send(OutgoingRecord(
            record: KafkaProducedRecord(topic: repartitionTopic, key: Self.batchKey, value: batch.batch.bytes, headers: []),
            partition: Int32(i), timestampMilliseconds: batch.consumedAt))
    }

    /// Every pending batch: after each poll batch, and before markers and commits, so that observations
    /// precede the markers that follow them and a commit covers what was routed.
    mutating func flush(output: inout StageOutput) {
        for i in pending.indices where pending[i] != nil { send(partition: i, output: &output) }
    }

    /// Drops what was not sent (an aborted transaction: the partitions are replayed).
    mutating func discardPending() {
        for i in pending.indices { pending[i] = nil }
    }

    /// The consumer is at the end of `tp`; false when `tp` is not routed here.
    mutating func endOfPartition(_ tp: KafkaTopicPartition, now: EventTime) -> Bool {
        guard partitions[tp] != nil else { return false }
        partitions[tp]!.watermarks.setCaughtUp(true, now: now)
        return true
    }

    // MARK: markers

    /// Each input partition's watermark to every repartition partition, when it changed or while the
    /// partition is idle (idle markers repeat so that the wall clock moves on downstream).
    mutating func broadcastMarkers(now: EventTime, output: inout StageOutput) {
        flush(output: &output)
        let bound = maxOutOfOrderness.milliseconds
        let idleAfter = idleTimeout?.milliseconds
        for (tp, state) in partitions {
            let w = state.watermarks
            let idleFor = w.lastActivity.map { now.millisecondsSinceEpoch - $0.millisecondsSinceEpoch } ?? 0
            let idle = w.isCaughtUp && idleAfter.map { idleFor >= $0 } ?? false
            let marker = WatermarkMarker(
                topic: tp.topic, partition: tp.partition, watermark: w.watermark?.millisecondsSinceEpoch,
                idle: idle, idleMilliseconds: idle ? idleFor : 0, wallWatermark: now.millisecondsSinceEpoch - bound)
            if let last = state.lastMarker, last.watermark == marker.watermark, last.idle == marker.idle, !idle { continue }
            let bytes = marker.encoded()
            for r in 0..<repartitionPartitions {
                output.send(OutgoingRecord(record: KafkaProducedRecord(topic: repartitionTopic, key: nil, value: bytes, headers: []),
                                           partition: r))
            }
            output.counters.markersSent += 1
            partitions[tp]!.lastMarker = marker
        }
    }

    // MARK: assignment

    /// Takes `tp` over, from its checkpoint's watermark when it has one.
    mutating func assign(_ tp: KafkaTopicPartition, watermark: Int64?) {
        var w = newWatermarks()
        if let watermark { w.advance(to: EventTime(millisecondsSinceEpoch: watermark)) }
        partitions[tp] = PartitionState(watermarks: w)
    }

    mutating func drop(_ tp: KafkaTopicPartition) { partitions[tp] = nil }

    /// The offset to commit and the checkpoint to write for each partition that routed a record.
    func commitEntries(group: String) -> [(offset: KafkaTopicPartitionOffset, checkpoint: PartitionCheckpoint)] {
        partitions.compactMap { tp, r in
            guard let next = r.nextOffset else { return nil }
            return (KafkaTopicPartitionOffset(tp, KafkaOffset(next)),
                    PartitionCheckpoint(group: group, topic: tp.topic, partition: tp.partition, offset: next, next: next,
                                        watermark: r.watermarks.watermark?.millisecondsSinceEpoch))
        }
    }

    private func newWatermarks() -> BoundedOutOfOrdernessWatermarks {
        BoundedOutOfOrdernessWatermarks(maxOutOfOrderness: maxOutOfOrderness, idleTimeout: idleTimeout)
    }
}
