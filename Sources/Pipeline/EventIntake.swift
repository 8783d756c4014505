import CloudTrail
import Detection

/// Decode -> refuse the future -> keep, for the stage that reads input records (route, or detect when
/// the input is keyed): the one place an input record becomes kept events. Strings are made only for
/// what the rule keeps (`CloudTrailDecoder.decodeEach` lends events in place). A class: the per-event
/// closure then reads `rule` in place, where a struct's would copy it (a retain and release per field).
final class EventIntake {
    let decoder: CloudTrailDecoder
    let rule: DetectionRule
    /// The rule's exceptions in force, read once per poll batch (`refreshExceptions`), not per event.
    private(set) var exceptions: RuleExceptions?
    /// `time.max_future_skew`: an event dated further ahead of the wall clock would move the watermark
    /// into the future; it is dead-lettered with the record's other problems.
    let maxFutureSkew: Duration
    private let maxFutureSkewMilliseconds: Int64
    private var decodeResult = CloudTrailDecodeResult()

    init(configuration: PipelineConfiguration, rule: DetectionRule) {
        self.rule = rule
        exceptions = rule.exceptionsInForce()
        maxFutureSkew = configuration.detector.maxFutureSkew
        maxFutureSkewMilliseconds = maxFutureSkew.milliseconds
        let r = configuration.detector.rule
        decoder = CloudTrailDecoder(
            limits: configuration.decoderLimits,
            prefilter: configuration.prefilter
                ? CloudTrailPrefilter(identityTypes: r.identityTypes.sorted(), accessKeyPrefixes: r.accessKeyPrefixes) : nil,
            fields: DetectionRule.fieldsRead)
    }

    /// Takes up the exceptions in force (a reloaded `rule.exceptions_file`): the runner calls it once
    /// per poll batch; the source takes a lock and, at most every reload interval, `stat`s the file.
    func refreshExceptions() {
        if rule.exceptions != nil { exceptions = rule.exceptionsInForce() }
    }

    /// What one input record yielded.
    struct Yield {
        /// The latest event time among its accepted events (kept or not); nil when it yielded none
        /// (garbage, or only events from the future): then it counts as an end of partition for idleness.
        var latest: EventTime?
        var kept = 0
    }

    /// Lends each kept event of `m` to `body`, counts the rejected ones, and dead-letters the record's
    /// bad members (one dead letter per record).
    func read(
        _ m: some ConsumedRecord, now: EventTime, output: inout StageOutput,
        _ body: (KeptEvent, inout StageOutput) throws -> Void
    ) rethrows -> Yield {
        // Taken out for the call: no exclusivity check on the class's property per record.
        var result = CloudTrailDecodeResult()
        swap(&result, &decodeResult)
        defer { swap(&result, &decodeResult) }
        result.removeAll()
        var yield = Yield()
        var decoded = 0
        var future = 0
        let latestAccepted = now.millisecondsSinceEpoch + maxFutureSkewMilliseconds
        let exceptions = self.exceptions
        try m.withValueBytes { bytes in
            try decoder.decodeEach(bytes, into: &result) { event in
                decoded += 1
                guard event.eventTime.millisecondsSinceEpoch <= latestAccepted else {
                    future += 1
                    return
                }
                if yield.latest.map({ event.eventTime > $0 }) ?? true { yield.latest = event.eventTime }
                switch rule.keep(event, exceptions: exceptions) {
                case .success(let kept):
                    yield.kept += 1
                    try body(kept, &output)
                case .failure(let reason):
                    output.counters.eventsRejected[reason.label, default: 0] += 1
                }
            }
        }
        if future > 0 || !result.errors.isEmpty {
            output.deadLetter(m, problems: RecordProblems(errors: result.errors, futureEvents: future, maxFutureSkew: maxFutureSkew))
        }
        output.counters.eventsPrefiltered += result.filtered
        output.counters.eventsDecoded += decoded
        return yield
    }
}
