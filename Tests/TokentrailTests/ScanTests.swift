import CloudTrail
import Detection
import Foundation
import KafkaTestSupport
import Simulation
import Testing
import TokentrailCore

/// Synthetic CloudTrail with injected attacks (the simulator's), its oracle, and ways to lay it
/// out as files of every shape `scan` and `replay` read.
struct ScanCorpus {
    let events: [[UInt8]]
    let expected: [ExpectedAlert]

    init(seed: UInt64 = 7, count: Int = 1500, attacks: Int = 6) throws {
        var c = SimulationConfiguration()
        c.seed = seed
        c.eventCount = count
        c.attackCount = attacks
        c.duration = .seconds(3 * 3600)
        let generator = try TrafficGenerator(c)
        events = try RecordStream(generator: generator, options: RecordOptions()).map(\.value)
        expected = generator.expectedAlerts()
    }

    enum Shape: CaseIterable {
        case jsonLines, jsonLinesGzip, records, recordsGzip, prettyRecords, array
    }

    /// Writes `events` as one file of `shape` at `path` (`.gz` appended for gzip shapes); returns its path.
    @discardableResult
    static func write(_ events: some Collection<[UInt8]>, as shape: Shape, to path: String) throws -> String {
        func joined(_ separator: String) -> [UInt8] {
            Array(events.map { String(decoding: $0, as: UTF8.self) }.joined(separator: separator).utf8)
        }
        let bytes: [UInt8]
        switch shape {
        case .jsonLines, .jsonLinesGzip: bytes = joined("\n") + [0x0A]
        case .records, .recordsGzip: bytes = Array(#"{"Records":["#.utf8) + joined(",") + Array("]}".utf8)
        case .prettyRecords: bytes = Array("{\n  \"Records\": [\n    ".utf8) + joined(",\n    ") + Array("\n  ]\n}\n".utf8)
        case .array: bytes = Array("[\n".utf8) + joined(",\n") + Array("\n]\n".utf8)
        }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        guard shape == .jsonLinesGzip || shape == .recordsGzip else { return path }
        try gzip(path)
        return path + ".gz"
    }

    static func gzip(_ path: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-f", "-n", path]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    static func temporaryDirectory(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tt-\(name)-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// Runs the library's scan over `paths` in the order given: `BatchScan` with one worker,
/// `ParallelScan` with more.
func runScan(_ paths: [String], includeOpen: Bool = false, detector: DetectorConfiguration = DetectorConfiguration(),
             workers: Int = 1) throws -> (alerts: [Alert], summary: ScanSummary)
{
    var options = BatchScan.Options(detector: detector)
    options.includeOpen = includeOpen
    guard workers == 1 else {
        let collected = Collected()
        let summary = try ParallelScan(options: options, workers: workers).scan(paths: paths) { collected.append($0) }
        return (collected.alerts, summary)
    }
    let scan = BatchScan(options: options)
    var alerts: [Alert] = []
    for path in paths { try scan.scan(file: path) { alerts.append($0) } }
    scan.finish { alerts.append($0) }
    return (alerts, scan.summary)
}

/// Alerts handed over from the scan's threads.
final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [Alert] = []
    func append(_ a: Alert) { lock.lock(); list.append(a); lock.unlock() }
    var alerts: [Alert] { lock.lock(); defer { lock.unlock() }; return list }
}

/// The alert's JSON without `detected_at` (wall clock) and, optionally, without the pivot to
/// file positions (which moves when events move between files).
func normalized(_ alert: Alert, keepFilePositions: Bool) -> String {
    var a = alert
    a.detectedAt = EventTime(millisecondsSinceEpoch: 0)
    if !keepFilePositions {
        a.evidence.inputRanges = []
        a.evidence.inputRangeCount = 0
    }
    return a.jsonString
}

func oracleView(_ alert: Alert) -> ExpectedAlert {
    ExpectedAlert(principalArn: alert.principal.arn, windowStart: alert.window.start, sourceAddresses: alert.sourceAddresses.values)
}

@Suite struct ScanTests {
    /// Every shape, in an S3 export tree with a digest folder and unrelated files, finds exactly the
    /// alerts the simulator's batch oracle expects, each one final at revision 1.
    @Test func everyShapeInAnS3TreeFindsTheOraclesAlerts() throws {
        let corpus = try ScanCorpus()
        let root = try ScanCorpus.temporaryDirectory("s3")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let shapes = ScanCorpus.Shape.allCases
        let chunk = (corpus.events.count + shapes.count - 1) / shapes.count
        for (i, shape) in shapes.enumerated() {
            let day = String(format: "%02d", i + 1)
            let slice = corpus.events[min(i * chunk, corpus.events.count)..<min((i + 1) * chunk, corpus.events.count)]
            try ScanCorpus.write(slice, as: shape, to: "\(root)/AWSLogs/123456789012/CloudTrail/us-east-1/2026/03/\(day)/part\(i).json")
        }
        // Two gzip members in one file are one stream, as gzip -d reads them (here: two JSON-lines parts).
        let tail = "\(root)/AWSLogs/123456789012/CloudTrail/eu-west-1/2026/03/02/tail"
        let a = try ScanCorpus.write([corpus.events[0]], as: .jsonLinesGzip, to: tail + "-a.json")
        let b = try ScanCorpus.write([corpus.events[1]], as: .jsonLinesGzip, to: tail + "-b.json")
        try Data(try Data(contentsOf: URL(fileURLWithPath: a)) + Data(contentsOf: URL(fileURLWithPath: b)))
            .write(to: URL(fileURLWithPath: tail + ".json.gz"))
        try FileManager.default.removeItem(atPath: a)
        try FileManager.default.removeItem(atPath: b)
        try ScanCorpus.write([#"{"awsAccountId":"123456789012","digestStartTime":"2026-03-02T00:00:00Z"}"#].map { Array($0.utf8) },
                             as: .recordsGzip, to: "\(root)/AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/03/02/digest.json")
        try Data("not cloudtrail".utf8).write(to: URL(fileURLWithPath: "\(root)/AWSLogs/README.txt"))

        let files = try CloudTrailFiles(paths: [root])
        #expect(files.files.count == shapes.count + 1, "\(files.files.map(\.path))")
        #expect(files.skipped == 1)
        #expect(!files.files.contains { $0.path.contains("Digest") })
        let (alerts, summary) = try runScan(files.files.map(\.path))
        #expect(summary.events == corpus.events.count + 2)
        #expect(summary.badRecords == 0, "\(summary.badSamples)")
        #expect(summary.bytes == files.totalBytes)
        #expect(alerts.allSatisfy { $0.status == .final && $0.revision == 1 })
        #expect(alerts.map(oracleView).sorted() == corpus.expected.sorted())
        #expect(corpus.expected.count == 6)
        // Alerts come out in window order, then grouping key.
        #expect(alerts.map { "\($0.window.start.millisecondsSinceEpoch)|\($0.groupingKey)" }
                == alerts.map { "\($0.window.start.millisecondsSinceEpoch)|\($0.groupingKey)" }.sorted())
        // The evidence points back at the files and lines the window's events came from.
        for alert in alerts {
            #expect(!alert.evidence.inputRanges.isEmpty)
            #expect(alert.evidence.inputRanges.allSatisfy { $0.topic.hasPrefix(root) && $0.firstOffset >= 1 })
        }
    }

    /// Property: the same events, spread over files of random shapes in a random order with the
    /// events shuffled, read by 1, 2 or 3 workers, yield the same alerts (detected_at and the file
    /// positions aside).
    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6], [1, 2, 3])
    func resultDoesNotDependOnFileOrEventOrder(trial: UInt64, workers: Int) throws {
        let corpus = try ScanCorpus(seed: 11, count: 1200, attacks: 8)
        var baseline: [String] = []
        do {
            let dir = try ScanCorpus.temporaryDirectory("base")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let path = try ScanCorpus.write(corpus.events, as: .jsonLines, to: "\(dir)/all.jsonl")
            baseline = try runScan([path]).alerts.map { normalized($0, keepFilePositions: false) }
        }
        #expect(baseline.count == corpus.expected.count && baseline.count == 8)

        var random = SplitMix64(seed: trial)  // seeded, so a failing shuffle can be replayed
        let dir = try ScanCorpus.temporaryDirectory("shuffled")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shuffled = corpus.events.shuffled(using: &random)
        let fileCount = Int.random(in: 2...9, using: &random)
        var cuts = (0..<(fileCount - 1)).map { _ in Int.random(in: 0...shuffled.count, using: &random) }.sorted()
        cuts = [0] + cuts + [shuffled.count]
        var paths: [String] = []
        for i in 0..<fileCount {
            let shape = ScanCorpus.Shape.allCases.randomElement(using: &random)!
            paths.append(try ScanCorpus.write(shuffled[cuts[i]..<cuts[i + 1]], as: shape, to: "\(dir)/f\(i).json"))
        }
        paths.shuffle(using: &random)
        let (alerts, summary) = try runScan(paths, workers: workers)
        #expect(summary.events == corpus.events.count)
        #expect(summary.files == fileCount)
        #expect(alerts.map { normalized($0, keepFilePositions: false) } == baseline, "trial \(trial), \(workers) workers")
    }

    /// Reading the same files in another order, with 1, 2 or 3 workers, changes nothing at all but
    /// detected_at: not the alerts, not their order, not the summary.
    @Test func fileOrderAndWorkerCountChangeOnlyDetectedAt() throws {
        let corpus = try ScanCorpus(seed: 5, count: 1000, attacks: 5)
        let dir = try ScanCorpus.temporaryDirectory("order")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var paths: [String] = []
        for i in 0..<5 {
            let slice = corpus.events.enumerated().filter { $0.offset % 5 == i }.map(\.element)
            paths.append(try ScanCorpus.write(slice, as: ScanCorpus.Shape.allCases[i], to: "\(dir)/f\(i).json"))
        }
        try Data("{broken\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/bad.jsonl"))
        paths.append("\(dir)/bad.jsonl")
        let (forwardAlerts, forwardSummary) = try runScan(paths)
        let forward = forwardAlerts.map { normalized($0, keepFilePositions: true) }
        #expect(forward.count == 5)
        #expect(forwardSummary.badRecords == 1)
        for workers in [1, 2, 3] {
            for order in [paths, Array(paths.reversed())] {
                let (alerts, summary) = try runScan(order, workers: workers)
                #expect(alerts.map { normalized($0, keepFilePositions: true) } == forward, "\(workers) workers")
                #expect(summary.events == forwardSummary.events && summary.matched == forwardSummary.matched)
                #expect(summary.rejected == forwardSummary.rejected && summary.alerts == forwardSummary.alerts)
                #expect(summary.bytes == forwardSummary.bytes && summary.files == forwardSummary.files)
                #expect(summary.badSamples == forwardSummary.badSamples)
            }
        }
    }

    /// --include-open: open revisions precede each final, numbered 1, 2, ...; the final's evidence
    /// is what the default mode reports.
    @Test func includeOpenAddsOpenRevisionsBeforeEachFinal() throws {
        let corpus = try ScanCorpus(seed: 9, count: 800, attacks: 4)
        let dir = try ScanCorpus.temporaryDirectory("open")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try ScanCorpus.write(corpus.events, as: .jsonLines, to: "\(dir)/all.jsonl")
        let plain = try runScan([path]).alerts
        let withOpen = try runScan([path], includeOpen: true).alerts
        #expect(withOpen.contains { $0.status == .open })
        let finals = withOpen.filter { $0.status == .final }
        #expect(finals.count == plain.count)
        for final in finals {
            let revisions = withOpen.filter { $0.id == final.id }.map(\.revision)
            #expect(revisions == Array(1...revisions.count))
            #expect(withOpen.last { $0.id == final.id }?.status == .final)
            var same = final
            same.revision = 1
            #expect(plain.map { normalized($0, keepFilePositions: true) }.contains(normalized(same, keepFilePositions: true)))
        }
    }

    /// Bad records cost themselves only: counted by reason, listed with file and line.
    @Test func badRecordsAreCountedWithFileAndLine() throws {
        let corpus = try ScanCorpus(seed: 3, count: 300, attacks: 2)
        let dir = try ScanCorpus.temporaryDirectory("bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var lines = corpus.events.map { String(decoding: $0, as: UTF8.self) }
        lines.insert(#"{"eventTime": "2026-03-02T00:00:00Z", "userIdentity": {"#, at: 10)  // truncated: line 11
        lines.insert("[1, 2]", at: 20)  // line 21: an array member that is not an event
        lines.insert(#"{"Records":[{"eventVersion":"1.08"},"#.appending(lines[30].dropFirst(0)) + "]}", at: 30)  // line 31: one bad member
        let path = "\(dir)/mixed.jsonl"
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
        let gz = "\(dir)/corrupt.json.gz"
        try Data([0x1F, 0x8B, 0x08, 0x00] + Array(repeating: 0x41, count: 64)).write(to: URL(fileURLWithPath: gz))

        let (alerts, summary) = try runScan([path, gz])
        #expect(summary.files == 2)
        #expect(summary.events == corpus.events.count + 1)  // the batch's good member is read twice
        #expect(summary.badRecords == 5, "\(summary.badSamples)")
        #expect(summary.badByReason == ["not_json": 1, "not_object": 2, "missing_event_time": 1, "bad_gzip": 1])
        let listed = summary.badSamples.map(\.description)
        #expect(listed.contains { $0.hasPrefix("\(path):11: not_json") })
        #expect(listed.contains("\(path):21: not_object record=0"))
        #expect(listed.contains("\(path):31: missing_event_time record=0"))
        #expect(listed.contains("\(gz): bad_gzip"))
        #expect(alerts.map(oracleView).sorted() == corpus.expected.sorted())
        #expect(summary.render(elapsed: .seconds(1)).contains("bad records: 5 (bad_gzip=1 missing_event_time=1 not_json=1 not_object=2)"))
    }

    /// A JSON-lines file whose first line is broken is still read line by line.
    @Test func brokenFirstLineStillReadsAsJSONLines() throws {
        let corpus = try ScanCorpus(seed: 4, count: 200, attacks: 1)
        let dir = try ScanCorpus.temporaryDirectory("first")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/f.jsonl"
        let text = #"{"eventTime": "2026-"# + "\n" + corpus.events.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "\n")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let (alerts, summary) = try runScan([path])
        #expect(summary.events == corpus.events.count)
        #expect(summary.badRecords == 1)
        #expect(alerts.count == 1)
    }

    @Test func missingPathIsAClearError() {
        do {
            _ = try CloudTrailFiles(paths: ["/nonexistent/cloudtrail"])
            Issue.record("a missing path was accepted")
        } catch {
            #expect(error.description == "cannot read /nonexistent/cloudtrail: no such file or directory")
        }
    }
}

/// The `scan` command as a user runs it.
@Suite(.ownThreads) struct ScanCommandTests {
    @Test func printsFinalAlertsAsJSONLinesAndASummary() throws {
        let corpus = try ScanCorpus(seed: 21, count: 600, attacks: 3)
        let dir = try ScanCorpus.temporaryDirectory("cmd")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ScanCorpus.write(corpus.events[..<300], as: .recordsGzip, to: "\(dir)/a.json")
        try ScanCorpus.write(corpus.events[300...], as: .jsonLines, to: "\(dir)/b.jsonl")
        try Data("{not json\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/c.json"))
        let (status, out, err) = try Tokentrail.run(["scan", dir])
        #expect(status == 0, "\(err)")
        let lines = out.split(separator: "\n")
        #expect(lines.count == 3)
        let found = try lines.map { try ExpectedAlert.fromDetectorAlert(Array($0.utf8)) }
        #expect(found.allSatisfy { $0.status == "final" })
        #expect(found.map(\.alert).sorted() == corpus.expected.sorted())
        #expect(err.contains("scan: 3 files (0 skipped)"), "\(err)")
        #expect(err.contains("\(corpus.events.count) events decoded"))
        #expect(err.contains("bad records: 1 (not_json=1)"))
        #expect(err.contains("\(dir)/c.json:1: not_json"))
        #expect(err.contains("alerts: 3 (final=3)"))
        #expect(err.contains("filtered by reason:"))
    }

    /// `--workers`: the output does not depend on it; 0 is refused with a message naming the flag.
    @Test func workersChangeNothingButDetectedAt() throws {
        let corpus = try ScanCorpus(seed: 22, count: 900, attacks: 4)
        let dir = try ScanCorpus.temporaryDirectory("workers")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for i in 0..<6 {
            let slice = corpus.events.enumerated().filter { $0.offset % 6 == i }.map(\.element)
            try ScanCorpus.write(slice, as: ScanCorpus.Shape.allCases[i], to: "\(dir)/f\(i).json")
        }
        func stripped(_ out: String) -> [String] {
            // detected_at, and the response's time, which is detected_at.
            out.split(separator: "\n").map {
                String($0).replacing(/"detected_at":"[^"]*"/, with: "").replacing(/"revoke_issued_before":"[^"]*"/, with: "")
                    .replacing(/TokenIssueTime\\":\\"[^\\]*/, with: "TokenIssueTime")
            }
        }
        let (status1, out1, err1) = try Tokentrail.run(["scan", "--workers", "1", dir])
        #expect(status1 == 0, "\(err1)")
        #expect(stripped(out1).count == 4)
        for workers in ["2", "3"] {
            let (status, out, err) = try Tokentrail.run(["scan", "--workers", workers, dir])
            #expect(status == 0, "\(err)")
            #expect(stripped(out) == stripped(out1), "--workers \(workers)")
            #expect(err.contains("\(corpus.events.count) events decoded"))
            #expect(err.contains("alerts: 4 (final=4)"))
        }
        let (status, _, err) = try Tokentrail.run(["scan", "--workers", "0", dir])
        #expect(status != 0)
        #expect(err.contains("--workers must be at least 1, got 0"), "\(err)")
    }

    /// The rule comes from the same configuration as `run`: file, environment, flags.
    @Test func usesTheConfigurationOfRun() throws {
        let corpus = try ScanCorpus(seed: 21, count: 600, attacks: 3)
        let dir = try ScanCorpus.temporaryDirectory("cfg")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try ScanCorpus.write(corpus.events, as: .jsonLines, to: "\(dir)/all.jsonl")
        let wantThree = corpus.expected.filter { $0.sourceAddresses.count >= 3 }
        #expect(wantThree.count < corpus.expected.count)
        let config = try writeTemporary("rule:\n  threshold: 3\n")
        for (arguments, environment) in [(["--config", config], [String: String]()), ([], ["TOKENTRAIL_RULE__THRESHOLD": "3"])] {
            let (status, out, err) = try Tokentrail.run(["scan"] + arguments + [path], environment: environment)
            #expect(status == 0, "\(err)")
            let found = try out.split(separator: "\n").map { try ExpectedAlert.fromDetectorAlert(Array($0.utf8)).alert }
            #expect(found.sorted() == wantThree.sorted())
        }
        let bad = try writeTemporary("rule:\n  threshold: zero\n")
        let (status, _, err) = try Tokentrail.run(["scan", "--config", bad, path])
        #expect(status == 2)
        #expect(err.contains("rule.threshold"))
    }

    /// `--output-format` (and `output.format` from the file or environment) writes the same alerts
    /// as OCSF Detection Findings or ECS documents; a bad value is a configuration error (exit 2).
    @Test func writesTheConfiguredFormat() throws {
        let corpus = try ScanCorpus(seed: 21, count: 600, attacks: 3)
        let dir = try ScanCorpus.temporaryDirectory("fmt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try ScanCorpus.write(corpus.events, as: .jsonLines, to: "\(dir)/all.jsonl")
        let (_, nativeOut, _) = try Tokentrail.run(["scan", "--include-open", path])
        let native = try nativeOut.split(separator: "\n").map { try ExpectedAlert.fromDetectorAlert(Array($0.utf8)) }
        #expect(native.count > 3)
        func records(_ out: String) throws -> [[String: Any]] {
            try out.split(separator: "\n").map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        }
        let nativeIDs = try records(nativeOut).map { $0["alert_id"] as? String }
        let (s1, ocsf, e1) = try Tokentrail.run(["scan", "--include-open", "--output-format", "ocsf", path])
        #expect(s1 == 0, "\(e1)")
        #expect(try records(ocsf).map { ($0["finding_info"] as? [String: Any])?["uid"] as? String } == nativeIDs)
        #expect(try records(ocsf).allSatisfy { $0["class_uid"] as? Int == 2004 })
        let (s2, ecs, e2) = try Tokentrail.run(["scan", "--include-open", path], environment: ["TOKENTRAIL_OUTPUT__FORMAT": "ecs"])
        #expect(s2 == 0, "\(e2)")
        #expect(try records(ecs).map { ($0["event"] as? [String: Any])?["id"] as? String } == nativeIDs)
        #expect(try records(ecs).allSatisfy { ($0["event"] as? [String: Any])?["kind"] as? String == "alert" })
        let (status, out, err) = try Tokentrail.run(["scan", "--output-format", "splunk", path])
        #expect(status == 2)
        #expect(out.isEmpty)
        #expect(err.contains("output.format") && err.contains("native, ocsf, ecs"), "\(err)")
    }

    @Test func unreadableInputExitsOneNamingIt() throws {
        let (status, out, err) = try Tokentrail.run(["scan", "/nonexistent/AWSLogs"])
        #expect(status == 1)
        #expect(out.isEmpty)
        #expect(err.contains("cannot read /nonexistent/AWSLogs: no such file or directory"))
    }
}

/// `rule.suppression` in `scan`: the windows' alerts merged into incidents, the same with any number
/// of workers (an incident's windows live in one detector thread, by issuer too).
@Suite struct ScanSuppressionTests {
    static let alice = "arn:aws:sts::123456789012:assumed-role/DeployRole/alice"
    static let bob = "arn:aws:sts::123456789012:assumed-role/DeployRole/bob"

    /// One CloudTrail event as JSON, at 2026-03-02T08:00:00Z + `minutes`.
    static func event(_ arn: String, key: String, minutes: Int, address: String, id: Int) -> [UInt8] {
        let time = RFC3339.format(EventTime(millisecondsSinceEpoch: 1_772_438_400_000 + Int64(minutes) * 60_000))
        let session = String(arn.split(separator: "/").last!)
        return Array("""
        {"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:\(session)","arn":"\(arn)","accountId":"123456789012","accessKeyId":"\(key)"},"eventTime":"\(time)","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"eu-west-1","sourceIPAddress":"\(address)","userAgent":"aws-cli/2.15.30","eventID":"suppression-\(id)","eventType":"AwsApiCall","recipientAccountId":"123456789012"}
        """.utf8)
    }

    /// Alice's token abused for three hours (08:00-11:00); Bob's, of the same role, 09:00-10:30.
    static var abuse: [[UInt8]] {
        var events: [[UInt8]] = []
        for w in 0..<6 {
            events.append(event(alice, key: "ASIAALICEEXAMPLE0001", minutes: w * 30 + 3, address: "203.0.113.77", id: events.count))
            events.append(event(alice, key: "ASIAALICEEXAMPLE0001", minutes: w * 30 + 19, address: "198.51.100.\(w + 1)", id: events.count))
        }
        for w in 2..<5 {
            events.append(event(bob, key: "ASIABOBEXAMPLE000002", minutes: w * 30 + 5, address: "203.0.113.78", id: events.count))
            events.append(event(bob, key: "ASIABOBEXAMPLE000002", minutes: w * 30 + 25, address: "198.51.100.\(w + 1)", id: events.count))
        }
        return events
    }

    @Test(arguments: [SuppressionConfiguration.By.groupingKey, .accessKeyId, .issuer])
    func incidentsAreTheSameWithOneOrSeveralWorkers(by: SuppressionConfiguration.By) throws {
        let corpus = try ScanCorpus(seed: 11, count: 1200, attacks: 8)
        let dir = try ScanCorpus.temporaryDirectory("suppression")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var random = SplitMix64(seed: 21)
        let events = (corpus.events + Self.abuse).shuffled(using: &random)
        var paths: [String] = []
        for i in 0..<3 {
            let slice = events.enumerated().filter { $0.offset % 3 == i }.map(\.element)
            paths.append(try ScanCorpus.write(slice, as: ScanCorpus.Shape.allCases[i], to: "\(dir)/f\(i).json"))
        }
        var detector = DetectorConfiguration()
        detector.suppression = SuppressionConfiguration(by: by, period: .seconds(3_600))
        let windows = try runScan(paths).alerts
        let (incidents, _) = try runScan(paths, detector: detector)
        #expect(incidents.allSatisfy { $0.status == .final && $0.revision == 1 && $0.suppression != nil })
        #expect(incidents.reduce(0) { $0 + ($1.suppression?.windowCount ?? 0) } == windows.count,
                "every window that met the rule is in exactly one incident")
        let aliceIncidents = incidents.filter { $0.suppression?.groupingKeys.values.contains(Self.alice) == true }
        #expect(aliceIncidents.count == 1)
        #expect(aliceIncidents.first?.suppression?.windowCount == (by == .issuer ? 9 : 6))
        #expect(aliceIncidents.first.map { RFC3339.format($0.window.end) } == "2026-03-02T11:00:00Z")
        // Alice's six windows (and Bob's three) are one incident each, or one in all by issuer.
        #expect(incidents.count <= windows.count - (by == .issuer ? 8 : 5 + 2))

        for workers in [2, 3] {
            let (parallel, _) = try runScan(paths, detector: detector, workers: workers)
            #expect(parallel.map { normalized($0, keepFilePositions: true) } == incidents.map { normalized($0, keepFilePositions: true) },
                    "\(workers) workers")
        }
    }
}
