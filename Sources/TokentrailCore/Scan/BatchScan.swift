public import CloudTrail
public import Detection
import Foundation

/// `tokentrail scan`: the rule and the windows of `run` over files, with batch semantics.
///
/// Files come in any order and events in any order within them, so no window can be known to be
/// complete before the end of the input: the detector runs with an external watermark that stays
/// unset until `finish`, which raises it past every window so that all of them fire, in window
/// order then grouping key. Memory is the detector's state per (principal, window) that the rule
/// kept (events themselves are not retained) plus one line or one document of the file being read.
///
/// What an alert says does not depend on the order of files or events: address sets and counts,
/// first/last seen and event counts are order-free, and bounded evidence lists keep their smallest
/// values. `final` alerts carry revision 1 unless `includeOpen` asks for `open` revisions too,
/// which are emitted as the threshold is crossed while reading: those, and so the final revision
/// number after them, follow the reading order (see the README's `scan` section).
public final class BatchScan {
    public struct Options: Sendable {
        public var detector: DetectorConfiguration
        /// Also emit `open` revisions while reading (order-dependent, see above).
        public var includeOpen = false
        /// Largest JSON document (one line of JSON lines, or a whole file otherwise) kept.
        public var maxDocumentBytes = 1 << 30
        /// Bad records listed by file and position in the summary (all are counted).
        public var badRecordSamples = 20
        /// The time every alert is detected at; nil: the wall clock. `tokentrail test` fixes it so
        /// that `detected_at` is the same on every run.
        public var clock: EventTime?

        public init(detector: DetectorConfiguration) { self.detector = detector }
    }

    public let options: Options
    public private(set) var summary = ScanSummary()
    private let rule: DetectionRule
    private let decoder: CloudTrailDecoder
    private var detector: WindowedDetector
    private var offset: Int64 = 0
    private var result = CloudTrailDecodeResult()

    /// The only detector partition: a scan has one input, the files.
    static let partition: Int32 = 0

    /// `rule`: the one `TokentrailSettings.makeDetection` built (with its GeoIP enricher); without
    /// it, the rule of `options.detector` without enrichment.
    public init(options: Options, rule: DetectionRule? = nil) {
        self.options = options
        let configuration = Self.detectorConfiguration(options)
        self.rule = rule ?? DetectionRule(configuration.rule)
        // Only what the rule reads, as the pipeline does: both treat the same bytes the same way.
        decoder = CloudTrailDecoder(limits: .init(maxDecodedBytes: options.maxDocumentBytes), fields: DetectionRule.fieldsRead)
        detector = WindowedDetector(configuration)
        detector.assign(partition: Self.partition, mode: .external)
    }

    /// Reads one file; `alert` gets `open` revisions (with `includeOpen`), `progress` bytes read.
    /// Throws `FileInputError` when the file cannot be read; bad content is counted instead.
    /// `name`: what alerts' evidence (`input[].topic`) and the summary call the file; its path by default.
    public func scan(file path: String, name: String? = nil, progress: (Int) -> Void = { _ in }, alert: (Alert) -> Void) throws {
        let name = name ?? path
        summary.files += 1
        try FileDocumentReader.read(path: path, maxDocumentBytes: options.maxDocumentBytes, progress: {
            self.summary.bytes += $0
            progress($0)
        }) { item in
            switch item {
            case .problem(let error):
                noteBad(error, path: name)
            case .document(let bytes, let line):
                result.removeAll()
                let now = options.clock ?? Self.wallClock
                // The pivot back to the raw event: its file as the "topic", its line as the "offset".
                let origin = EventOrigin(topic: name, partition: 0, offset: Int64(line))
                // Once per document, not per event (a reload between documents is taken up at the next one).
                let exceptions = rule.exceptionsInForce()
                // Lent: the rule and the windows read the event's bytes; strings only for what a window keeps.
                decoder.decodeEach(bytes, into: &result) { event in
                    summary.events += 1
                    switch rule.keep(event, exceptions: exceptions) {
                    case .success(let kept):
                        summary.matched += 1
                        offset += 1
                        let processed = detector.process(kept, origin: origin, partition: Self.partition, offset: offset, now: now)
                        for a in processed.alerts { emitted(a, alert) }
                    case .failure(let reason):
                        summary.rejected[reason.label, default: 0] += 1
                    }
                }
                for var error in result.errors {
                    error.line = line
                    noteBad(error, path: name)
                }
            }
        }
    }

    /// The detector's configuration for batch semantics: an external watermark raised only at the end.
    static func detectorConfiguration(_ options: Options) -> DetectorConfiguration {
        var configuration = options.detector
        configuration.emitOpenAlerts = options.includeOpen
        configuration.defaultWatermarkMode = .external
        configuration.idleTimeout = nil
        // Nothing fires before `finish`, so lateness cannot arise.
        configuration.allowedLateness = .zero
        return configuration
    }

    /// A watermark past every window: where `finish` raises it.
    static func endOfInput(_ options: Options) -> EventTime {
        EventTime(millisecondsSinceEpoch: EventTime.acceptedRange.upperBound.millisecondsSinceEpoch
                  + options.detector.rule.windowSize.milliseconds + 1)
    }

    /// End of input: every window fires, in window order then grouping key.
    public func finish(alert: (Alert) -> Void) {
        let end = Self.endOfInput(options)
        for a in detector.advance(partition: Self.partition, externalWatermark: end, now: options.clock ?? Self.wallClock) {
            emitted(a, alert)
        }
    }

    private func emitted(_ a: Alert, _ alert: (Alert) -> Void) {
        summary.alerts[a.status.rawValue, default: 0] += 1
        alert(a)
    }

    private func noteBad(_ error: CloudTrailDecodingError, path: String) {
        summary.badRecords += 1
        summary.badByReason[error.reason.rawValue, default: 0] += 1
        if summary.badSamples.count < options.badRecordSamples {
            summary.badSamples.append(ScanSummary.BadRecord(path: path, error: error))
        }
    }

    static var wallClock: EventTime {
        EventTime(millisecondsSinceEpoch: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
    }
}

/// What a scan read and found, for the summary on stderr.
public struct ScanSummary: Sendable, Hashable {
    public struct BadRecord: Sendable, Hashable, CustomStringConvertible {
        public var path: String
        public var error: CloudTrailDecodingError
        /// `path:line: reason record=N field=F offset=B` (line 1-based; record: position in its batch).
        public var description: String {
            var e = error
            let line = e.line
            e.line = nil
            return "\(path)\(line.map { ":\($0)" } ?? ""): \(e)"
        }
    }

    public var files = 0
    public var skippedFiles = 0
    /// Bytes read from disk (compressed size for gzip).
    public var bytes = 0
    /// CloudTrail events decoded.
    public var events = 0
    /// Events the rule kept.
    public var matched = 0
    /// Events the rule did not keep, by `RejectReason` label.
    public var rejected: [String: Int] = [:]
    /// Records (lines, batch members, documents) that did not decode, by reason.
    public var badRecords = 0
    public var badByReason: [String: Int] = [:]
    public var badSamples: [BadRecord] = []
    public var alerts: [String: Int] = [:]

    public init() {}

    public func render(elapsed: Duration) -> String {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        func counts(_ d: [String: Int]) -> String {
            d.isEmpty ? "none" : d.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        var lines = [
            "scan: \(files) files (\(skippedFiles) skipped), \(bytes) bytes, \(events) events decoded, \(matched) matched the rule",
            "scan: filtered by reason: \(counts(rejected))",
            "scan: bad records: \(badRecords)\(badRecords > 0 ? " (\(counts(badByReason)))" : "")",
        ]
        lines += badSamples.map { "scan:   \($0)" }
        if badRecords > badSamples.count { lines.append("scan:   ... and \(badRecords - badSamples.count) more") }
        lines.append("scan: alerts: \(alerts.values.reduce(0, +))\(alerts.isEmpty ? "" : " (\(counts(alerts)))")")
        lines.append(String(format: "scan: elapsed %.2f s, %.0f events/s", seconds, Double(events) / max(seconds, 1e-9)))
        return lines.joined(separator: "\n") + "\n"
    }
}
