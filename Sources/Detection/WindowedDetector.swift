public import CloudTrail

/// The streaming half of the rule: event-time tumbling windows per (partition, grouping key),
/// watermarks per partition, and the alerts they produce. A value type that returns what to emit;
/// it does no I/O, takes no locks and reads no clock (every call gets `now`, the wall clock).
///
/// This is the window operator (Flink's `WindowOperator`): it assigns observations to windows, drops
/// late ones, fires windows when the watermark passes their end, purges them after allowed lateness,
/// and checkpoints partitions. The windows live in the `WindowStore` (WindowStore.swift), what an
/// alert says is the `AlertBuilder`'s (AlertBuilder.swift), and incidents are `IncidentSuppressor`'s.
///
/// "Partition" is the detect stage's input partition (the keyed input topic, or the repartition
/// topic); "offset" is the position of the record in that partition.
///
/// Usage by the pipeline:
///
///     // route stage (unkeyed input), per event lent by CloudTrailDecoder.decodeEach:
///     let rule = DetectionRule(config.rule, enricher: geoIP)   // from TokentrailSettings.makeDetection
///     switch rule.keep(event) {
///     case .success(let kept): batch.append(kept, origin: EventOrigin(topic: t, partition: p, offset: o))
///     case .failure(let reason): filtered[reason.label] += 1
///     }   // (made events: rule.evaluate(event, origin:) gives the Observation; batch.append(observation))
///     // plus, per input partition, a BoundedOutOfOrdernessWatermarks (onEvent per event,
///     // setCaughtUp, onPeriodicEmit for idle advance) whose `watermark` it broadcasts as markers.
///
///     // detect stage:
///     var detector = WindowedDetector(config)
///     // on assignment: with a stored checkpoint, seek to checkpoint.safeOffset and
///     detector.restore(partition: p, from: checkpoint, mode: .external)   // keyed input: .boundedOutOfOrderness
///     // (without one: detector.assign(partition: p, mode: ...) and seek to the committed offset)
///     // per observation of a repartition record, read in place (ObservationBatch.read, or
///     // EncodedObservation.read for a single one); keyed input: rule.keep(event) here instead, then
///     // detector.process(kept, origin: origin, partition: p, offset: offset, now: now):
///     let result = detector.process(encoded, partition: p, offset: offset, now: now)
///     send(result.alerts)            // key: alert.recordKey, value: alert.json()
///     // per in-band watermark marker (external mode): the minimum over upstream input partitions of
///     // their latest marker read from this partition (store those latest markers in the checkpoint
///     // too, or a restart computes the minimum over fewer inputs and fires early)
///     send(detector.advance(partition: p, externalWatermark: minimum, now: now))
///     // on reaching / leaving the end of the log:
///     detector.setCaughtUp(partition: p, true, now: now)
///     // every second or so:
///     send(detector.tick(now: now))
///     // at commit time, after the alerts above are acknowledged:
///     let checkpoint = detector.checkpoint(partition: p)   // store it, then commit checkpoint.safeOffset
///     // on revoke:
///     detector.drop(partition: p)
///
/// Semantics (Flink names): windows are `[start, end)` from `TumblingEventTimeWindows`; a window
/// fires when the partition's watermark reaches `end` (`EventTimeTrigger`) and keeps its state for
/// `allowedLateness` more. An `open` alert goes out the moment a window reaches the threshold, a new
/// `open` revision when it gained addresses and its own data advanced `updateInterval` in event time
/// since the last one, and one `final` when it fires. Everything an alert says is a function of
/// the partition's records in order, so a replay from a checkpoint repeats identical revisions
/// (`detected_at` aside). Alerts come out ordered by window start, then grouping key.
public struct WindowedDetector: Sendable {
    public let configuration: DetectorConfiguration
    private let assigner: TumblingEventTimeWindows
    private var partitions: [Int32: PartitionState] = [:]
    /// The windows and what they share; `partitions` holds each partition's buckets.
    private var store: WindowStore
    private let builder: AlertBuilder
    /// `allowedLateness` and `updateInterval` in milliseconds, read per event: `Duration.components`
    /// is a call with 128-bit arithmetic, too slow for the per-event path.
    private let latenessMilliseconds: Int64
    private let updateIntervalMilliseconds: Int64
    /// (grouping key, window) pairs held over all partitions; at `configuration.maxWindows` new ones are refused.
    public var windowCount: Int { store.windowCount }

    public init(_ configuration: DetectorConfiguration = DetectorConfiguration()) {
        self.configuration = configuration
        assigner = TumblingEventTimeWindows(size: configuration.rule.windowSize)
        latenessMilliseconds = configuration.allowedLateness.milliseconds
        updateIntervalMilliseconds = configuration.updateInterval.milliseconds
        store = WindowStore(configuration)
        builder = AlertBuilder(rule: configuration.rule)
    }

    /// Starts a partition empty with an explicit watermark mode (replacing any state it had).
    /// Partitions first seen through `process` start in `configuration.defaultWatermarkMode`.
    public mutating func assign(partition: Int32, mode: WatermarkMode) {
        drop(partition: partition)
        partitions[partition] = PartitionState(mode: mode, configuration: configuration)
    }

    /// Starts a partition from a checkpoint: the caller seeks to `checkpoint.safeOffset` and replays.
    /// Alerts that replayed records below `checkpoint.nextOffset` bring about were sent before the
    /// checkpoint was stored: their revisions are counted again but not emitted a second time.
    /// Replayed events of windows that end at or before `checkpoint.watermark` were fired before the
    /// checkpoint and are skipped (counted as `skipped`, not `late`); those still within allowed
    /// lateness are rebuilt without emitting. Limitation: a later lateness re-emission of such a
    /// rebuilt window cannot know the revisions sent before the restart and restarts them at 1.
    public mutating func restore(partition: Int32, from checkpoint: DetectorCheckpoint, mode: WatermarkMode) {
        var state = PartitionState(mode: mode, configuration: configuration)
        if let watermark = checkpoint.watermark {
            state.generator.advance(to: watermark)
            state.restoredWatermark = watermark
        }
        state.replayUntilOffset = checkpoint.nextOffset
        state.restoredCheckpoint = checkpoint
        if let saved = checkpoint.suppression { state.suppressor?.restore(saved) }
        drop(partition: partition)
        partitions[partition] = state
    }

    /// Forgets a partition (revoked); its windows are rebuilt by whoever replays it next.
    public mutating func drop(partition: Int32) {
        guard let state = partitions.removeValue(forKey: partition) else { return }
        for bucket in state.buckets.values { store.release(bucket) }
    }

    /// Adds one observation read at `offset` of `partition`. Offsets must increase per partition, and
    /// the observation must come from `DetectionRule.evaluate` or `Observation(decoding:)` (its
    /// address is a real address).
    public mutating func process(
        _ observation: Observation, partition: Int32, offset: Int64, now: EventTime
    ) -> ProcessResult {
        process(source: observation, partition: partition, offset: offset, now: now)
    }

    /// The same for an event the rule kept (`DetectionRule.keep`) and lent by the decoder: its
    /// window and evidence are found by the input's bytes, and strings are made only for what the
    /// window keeps. The same result as `process(rule.evaluate(event, origin: origin))`.
    public mutating func process(
        _ kept: KeptEvent, origin: EventOrigin, partition: Int32, offset: Int64, now: EventTime
    ) -> ProcessResult {
        process(source: LentObservation(kept: kept, origin: origin), partition: partition, offset: offset, now: now)
    }

    /// The same for an observation read in place from the repartition topic (`EncodedObservation`).
    public mutating func process(
        _ encoded: EncodedObservation, partition: Int32, offset: Int64, now: EventTime
    ) -> ProcessResult {
        process(source: encoded, partition: partition, offset: offset, now: now)
    }

    private mutating func process(
        source observation: some ObservationSource, partition: Int32, offset: Int64, now: EventTime
    ) -> ProcessResult {
        // The partition's state is changed in place, found by one lookup. The dictionary is lent out
        // of `self` meanwhile (two swaps of one reference), so that `accept` and `fire` can change the
        // detector's tables while the state is borrowed; none of them reads `partitions`. Taking the
        // state out and putting it back hashed the partition twice and moved the state twice per event.
        var all: [Int32: PartitionState] = [:]
        swap(&all, &partitions)
        defer { swap(&all, &partitions) }
        let index = all.index(forKey: partition) {
            PartitionState(mode: configuration.defaultWatermarkMode, configuration: configuration)
        }
        return process(source: observation, partition: partition, offset: offset, now: now, state: &all.values[index])
    }

    private mutating func process(
        source observation: some ObservationSource, partition: Int32, offset: Int64, now: EventTime,
        state: inout PartitionState
    ) -> ProcessResult {
        state.nextOffset = max(state.nextOffset ?? (offset + 1), offset + 1)

        guard EventTime.acceptedRange.contains(observation.eventTime) else {
            state.invalid += 1
            return ProcessResult(outcome: .invalid, alerts: [])
        }
        let window = assigner.assignWindow(to: observation.eventTime)
        let lateness = latenessMilliseconds
        let watermark = state.generator.watermark
        let replaying = state.replayUntilOffset.map { offset < $0 } ?? true
        var outcome = ProcessOutcome.accepted
        var alerts: [Alert] = []
        var silent = false

        if let restored = state.restoredWatermark, replaying, window.end <= restored {
            // Fired before the checkpoint. Still within lateness then: rebuild it without emitting.
            if window.end.millisecondsSinceEpoch + lateness > restored.millisecondsSinceEpoch {
                silent = true
            } else {
                outcome = .skipped
            }
        } else if let watermark, window.end.millisecondsSinceEpoch + lateness <= watermark.millisecondsSinceEpoch {
            outcome = .late
        }

        switch outcome {
        case .accepted:
            state.accepted += 1
            // The window's bucket is changed in place, found by one lookup: taking it out of the
            // dictionary and putting it back hashed its start twice per event.
            let fired = state.generator.watermark.map { window.end <= $0 } ?? false
            let index = state.buckets.index(forKey: window.start.millisecondsSinceEpoch) {
                WindowBucket(firstOffset: offset, fired: fired)
            }
            var refused = false
            let alert = accept(observation, window: window, offset: offset, silent: silent, partition: partition,
                               bucket: &state.buckets.values[index], now: now, refused: &refused)
            if refused {
                state.accepted -= 1
                state.refused += 1
                outcome = .refused
            } else if let alert {
                // A replayed record below the checkpoint's next offset: its alert was sent (and
                // acknowledged) before the checkpoint was stored. The revision counts; the repeat is not sent.
                if let until = state.replayUntilOffset, offset < until {
                    state.suppressed += 1
                    // Its incident counts it again too (the revision), and sends nothing.
                    if state.suppressor != nil { _ = state.suppressor!.absorb(alert, watermark: watermark?.millisecondsSinceEpoch) }
                } else {
                    alerts.append(alert)
                }
            }
        case .late: state.late += 1
        case .skipped: state.skipped += 1
        case .invalid, .refused: break
        }

        switch state.mode {
        case .boundedOutOfOrderness:
            if state.generator.onEvent(observation.eventTime, now: now) != nil {
                alerts += fire(&state, partition: partition, now: now)
            }
        case .external:
            state.generator.setActivity(now: now)
        }
        if state.suppressor != nil { alerts = state.incidents(from: alerts, partition: partition, now: now) }
        return ProcessResult(outcome: outcome, alerts: alerts)
    }

    /// Raises the partition's watermark to `externalWatermark` (never lowers it) and fires what closes.
    /// In `.external` mode this is the only way the watermark moves.
    public mutating func advance(partition: Int32, externalWatermark: EventTime, now: EventTime) -> [Alert] {
        var state = partitions.removeValue(forKey: partition)
            ?? PartitionState(mode: .external, configuration: configuration)
        defer { partitions[partition] = state }
        guard state.generator.advance(to: externalWatermark) != nil else { return [] }
        return state.incidents(from: fire(&state, partition: partition, now: now), partition: partition, now: now)
    }

    /// Periodic work: idle advance of caught-up, silent partitions in derived mode.
    public mutating func tick(now: EventTime) -> [Alert] {
        var alerts: [Alert] = []
        for partition in partitions.keys.sorted() {
            guard var state = partitions[partition], state.mode == .boundedOutOfOrderness,
                  state.generator.onPeriodicEmit(now: now) != nil else { continue }
            alerts += state.incidents(from: fire(&state, partition: partition, now: now), partition: partition, now: now)
            partitions[partition] = state
        }
        return alerts
    }

    /// A record at `offset` that carried no observation (a watermark marker, an event the rule
    /// rejected): it moves the safe offset on, so a partition without matches still commits.
    public mutating func noteActivity(partition: Int32, offset: Int64, now: EventTime) {
        var state = partitions.removeValue(forKey: partition)
            ?? PartitionState(mode: configuration.defaultWatermarkMode, configuration: configuration)
        state.nextOffset = max(state.nextOffset ?? (offset + 1), offset + 1)
        partitions[partition] = state
    }

    /// Tells the detector whether the partition's consumer position is at the end of the log.
    public mutating func setCaughtUp(partition: Int32, _ caughtUp: Bool, now: EventTime) {
        partitions[partition, default: PartitionState(mode: configuration.defaultWatermarkMode,
                                                      configuration: configuration)]
            .generator.setCaughtUp(caughtUp, now: now)
    }

    /// What to store before committing `safeOffset`; nil for a partition that never saw a record.
    public func checkpoint(partition: Int32) -> DetectorCheckpoint? {
        guard let state = partitions[partition] else { return nil }
        guard let next = state.nextOffset else {
            return state.restoredCheckpoint.map {
                DetectorCheckpoint(safeOffset: $0.safeOffset, watermark: state.generator.watermark, nextOffset: $0.nextOffset,
                                   suppression: state.suppressor?.checkpoint())
            }
        }
        let oldest = state.buckets.values.lazy.map(\.firstOffset).min()
        return DetectorCheckpoint(safeOffset: min(oldest ?? next, next), watermark: state.generator.watermark, nextOffset: next,
                                  suppression: state.suppressor?.checkpoint())
    }

    public func watermark(partition: Int32) -> EventTime? { partitions[partition]?.generator.watermark }

    /// Windows held over all partitions and an estimate of their memory, for gauges. Walks every
    /// window: call it at commit time, not per record.
    public func summary() -> DetectorSummary {
        var result = DetectorSummary()
        result.estimatedBytes = store.estimatedBytes
        for state in partitions.values {
            result.incidents += state.suppressor?.incidentCount ?? 0
            for bucket in state.buckets.values {
                result.estimatedBytes += bucket.estimatedBytes
                for slot in bucket.slots {
                    switch slot {
                    case .single:
                        result.windows += 1
                    case .full(let box):
                        result.windows += 1
                        result.expandedWindows += 1
                        result.estimatedBytes += box.state.estimatedBytes
                    case .vacant:
                        break
                    }
                }
            }
        }
        return result
    }

    public func mode(partition: Int32) -> WatermarkMode? { partitions[partition]?.mode }

    public func statistics(partition: Int32) -> PartitionStatistics? {
        guard let state = partitions[partition] else { return nil }
        return PartitionStatistics(
            accepted: state.accepted, late: state.late, skipped: state.skipped, invalid: state.invalid, refused: state.refused,
            suppressed: state.suppressed,
            windows: state.buckets.values.reduce(0) { $0 + $1.slots.count },
            watermark: state.generator.watermark
        )
    }

    public var partitionIDs: [Int32] { partitions.keys.sorted() }

    // MARK: - Windows

    private mutating func accept(
        _ o: some ObservationSource, window: TimeWindow, offset: Int64, silent: Bool,
        partition: Int32, bucket: inout WindowBucket, now: EventTime, refused: inout Bool
    ) -> Alert? {
        bucket.firstOffset = min(bucket.firstOffset, offset)
        var position: Int32?
        guard let box = store.take(o, from: &bucket, position: &position, refused: &refused) else { return nil }
        func key() -> String { o.string(.groupingKey)! }
        defer {
            if let position {
                bucket.put(.full(box), at: position)
            } else {
                o.withText(.groupingKey) { bucket.append(utf8: $0, .full(box)) }
            }
        }
        _ = box.state.add(o, limits: configuration.evidenceLimits, scoring: scoring, pool: &store.pool)
        guard !silent else { return nil }

        let count = box.addressCount
        let meets = box.qualifies(configuration.rule)
        if bucket.fired {
            // Within allowed lateness: the updated window is re-emitted as a later final revision.
            guard meets else { return nil }
            return emit(.final, windowState: &box.state, key: key(), window: window, partition: partition, now: now)
        }
        guard configuration.emitOpenAlerts, meets else { return nil }
        if box.state.revision == 0 {
            return emit(.open, windowState: &box.state, key: key(), window: window, partition: partition, now: now)
        }
        if count > Int(box.state.emittedAddressCount),
           box.state.lastSeen >= box.state.lastEmittedAt + updateIntervalMilliseconds {
            return emit(.open, windowState: &box.state, key: key(), window: window, partition: partition, now: now)
        }
        return nil
    }

    /// Fires every window whose end the watermark reached; purges those past allowed lateness.
    private mutating func fire(_ state: inout PartitionState, partition: Int32, now: EventTime) -> [Alert] {
        guard let watermark = state.generator.watermark?.millisecondsSinceEpoch else { return [] }
        let size = assigner.sizeMilliseconds
        let lateness = latenessMilliseconds
        // A bucket is due once its window ends (it fires) and again once its lateness is over (it
        // leaves). Most calls find none due: they return here, without sorting the starts or moving a
        // bucket (fire runs whenever the watermark rises, every few records).
        @inline(__always) func isDue(_ start: Int64) -> Bool {
            guard start + size <= watermark else { return false }
            return start + size + lateness <= watermark || state.buckets[start]?.fired == false
        }
        guard state.buckets.keys.contains(where: isDue) else { return [] }
        var alerts: [Alert] = []
        for start in state.buckets.keys.sorted() where isDue(start) {
            guard var bucket = state.buckets.removeValue(forKey: start) else { continue }
            if !bucket.fired {
                bucket.fired = true
                let window = TimeWindow(start: EventTime(millisecondsSinceEpoch: start),
                                        end: EventTime(millisecondsSinceEpoch: start + size))
                // Only the windows that qualify say anything at their end: those, in key order. Sorting
                // every key of the period (a string each) stalled the thread for a second per million.
                let qualifying = bucket.sortedKeys { slot in
                    if case .full(let box) = slot { box.qualifies(configuration.rule) } else { false }
                }
                for (key, position) in qualifying {
                    guard case .full(var box) = bucket.take(at: position) else { continue }  // only full slots qualify
                    if !isKnownUniquelyReferenced(&box) { box = WindowSlot.Box(box.state) }
                    alerts.append(emit(.final, windowState: &box.state, key: key, window: window,
                                       partition: partition, now: now))
                    bucket.put(.full(box), at: position)
                }
            }
            if start + size + lateness > watermark {
                state.buckets[start] = bucket
            } else {
                store.release(bucket)
            }
        }
        return alerts
    }

    /// Whether the rule tracks networks for every window (it scores fidelity).
    private var scoring: Bool { configuration.rule.minimumFidelity != nil }

    /// Counts the emission in the window's state, then builds its alert.
    private func emit(
        _ status: Alert.Status, windowState s: inout WindowState, key: String, window: TimeWindow,
        partition: Int32, now: EventTime
    ) -> Alert {
        s.revision += 1
        s.emittedAddressCount = Int32(clamping: s.addressCount)
        if status == .open { s.lastEmittedAt = s.lastSeen }
        return builder.alert(status, windowState: &s, key: key, window: window, partition: partition, now: now)
    }
}

/// What happened to one observation.
public enum ProcessOutcome: String, Sendable, Hashable {
    /// Added to its window.
    case accepted
    /// Its window fired more than `allowedLateness` ago: dropped and counted.
    case late
    /// Replayed after a restore, in a window fired before the checkpoint: dropped and counted.
    case skipped
    /// Event time outside `EventTime.acceptedRange` (only a hand-made observation can have one).
    case invalid
    /// Its window is new and the detector holds `maxWindows` already: dropped and counted.
    case refused
}

public struct ProcessResult: Sendable, Hashable {
    public var outcome: ProcessOutcome
    /// Alerts to produce, in order.
    public var alerts: [Alert]
}

/// What the pipeline stores per partition before committing offsets, and restores from.
public struct DetectorCheckpoint: Sendable, Hashable {
    /// Where to seek on restore, and the offset that may be committed: the first offset of the oldest
    /// window still holding state, or the next offset after the last processed when none does.
    public var safeOffset: Int64
    public var watermark: EventTime?
    /// One past the last processed offset: replayed records below it are repeats, not late events.
    public var nextOffset: Int64?
    /// The incidents (`rule.suppression`), less what the replay of open windows brings back; nil when off.
    public var suppression: SuppressionCheckpoint?

    public init(safeOffset: Int64, watermark: EventTime?, nextOffset: Int64? = nil, suppression: SuppressionCheckpoint? = nil) {
        self.safeOffset = safeOffset
        self.watermark = watermark
        self.nextOffset = nextOffset
        self.suppression = suppression
    }
}

/// What the detector holds, for the state gauges.
public struct DetectorSummary: Sendable, Hashable {
    /// (grouping key, window) pairs held: open, or fired and within allowed lateness.
    public var windows = 0
    /// Windows past their first event (a second address or more), which hold full evidence lists.
    public var expandedWindows = 0
    /// The heap the windows hold, from what their containers have written: slots (a compact window
    /// lives in its slot), key indexes with the keys' bytes, the shared string and enrichment tables,
    /// and the evidence of each expanded window. The detection benchmark sets it beside resident memory.
    public var estimatedBytes = 0
    /// Incidents held (`rule.suppression`): from their first window until `for` after their last.
    public var incidents = 0
    public init() {}
}

/// Counters for metrics.
public struct PartitionStatistics: Sendable, Hashable {
    public var accepted: Int
    public var late: Int
    public var skipped: Int
    public var invalid: Int
    /// Events whose new window was refused at `maxWindows`.
    public var refused: Int
    /// Alerts a replay rebuilt below the restored checkpoint's next offset and did not send again.
    public var suppressed: Int
    /// Windows holding state (open, or fired and within allowed lateness).
    public var windows: Int
    public var watermark: EventTime?
}

struct PartitionState: Sendable {
    let mode: WatermarkMode
    var generator: BoundedOutOfOrdernessWatermarks
    var buckets: [Int64: WindowBucket] = [:]
    var nextOffset: Int64?
    var restoredWatermark: EventTime?
    var replayUntilOffset: Int64?
    var restoredCheckpoint: DetectorCheckpoint?
    var accepted = 0
    var late = 0
    var skipped = 0
    var invalid = 0
    var refused = 0
    /// Alerts rebuilt by a replay below `replayUntilOffset` (sent before the restart) and not repeated.
    var suppressed = 0
    /// The partition's incidents; nil without `rule.suppression`.
    var suppressor: IncidentSuppressor?

    init(mode: WatermarkMode, configuration: DetectorConfiguration) {
        self.mode = mode
        generator = BoundedOutOfOrdernessWatermarks(
            maxOutOfOrderness: configuration.maxOutOfOrderness, idleTimeout: configuration.idleTimeout
        )
        if configuration.suppression.isEnabled { suppressor = IncidentSuppressor(configuration) }
    }

    /// The window alerts as the incidents they join say them, then the incidents the watermark
    /// closes; the alerts unchanged without suppression.
    mutating func incidents(from alerts: [Alert], partition: Int32, now: EventTime) -> [Alert] {
        guard suppressor != nil else { return alerts }
        let watermark = generator.watermark?.millisecondsSinceEpoch
        var out = alerts.isEmpty ? [] : suppressor!.absorb(alerts, watermark: watermark)
        out += suppressor!.advance(to: watermark, partition: partition, now: now)
        return out
    }
}

extension WindowedDetector {
    /// Shared strings currently held by compact windows (tests check they are given back).
    var tableCount: Int { store.table.count }
    /// Addresses whose enrichment compact windows hold (given back likewise).
    var enrichmentCount: Int { store.enrichments.count }
    /// Distinct enrichments those addresses share.
    var distinctEnrichmentCount: Int { store.enrichments.distinctValues }
}
