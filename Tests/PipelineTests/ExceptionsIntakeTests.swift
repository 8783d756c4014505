import CloudTrail
import Detection
import Logging
@testable import Pipeline
import Synchronization
import Testing

/// An exceptions source whose snapshot a test swaps, as a reloaded file does.
private final class SwappableExceptions: RuleExceptionsSource {
    let snapshot = Mutex(RuleExceptions.none)
    func current() -> RuleExceptions { snapshot.withLock { $0 } }
}

/// The stage that reads input applies the rule's exceptions with the snapshot it took at the last poll
/// batch (`EventIntake.refreshExceptions`, called by the runner once per turn), never a half-swapped one.
@Suite struct ExceptionsIntakeTests {
    static let quiet = Logger(label: "t") { _ in SwiftLogNoOpLogHandler() }

    static func record(_ addresses: [String], offset: Int64) -> InMemoryRecord {
        let events = addresses.map { a in
            #"{"eventTime":"2026-03-02T08:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"\#(a)","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::123456789012:assumed-role/a/b","accountId":"123456789012","accessKeyId":"ASIAEXAMPLE"}}"#
        }
        return InMemoryRecord(topic: "cloudtrail", partition: 0, offset: offset, timestampMilliseconds: nil, key: nil,
                              value: Array(#"{"Records":[\#(events.joined(separator: ","))]}"#.utf8))
    }

    @Test func aSwappedSnapshotIsTakenUpAtTheNextPollBatch() throws {
        let configuration = PipelineConfiguration(inputTopics: ["cloudtrail"], inputKeyed: true)
        let source = SwappableExceptions()
        let intake = EventIntake(configuration: configuration, rule: DetectionRule(.seed, exceptions: source))
        var output = StageOutput(configuration: configuration, logger: Self.quiet)
        let now = try #require(RFC3339.parse("2026-03-02T08:05:00Z"))
        func read(_ offset: Int64) -> Int {
            intake.read(Self.record(["203.0.113.7", "198.51.100.7"], offset: offset), now: now, output: &output) { _, _ in }.kept
        }
        #expect(read(0) == 2)
        let tally = ExceptionTally(name: "corp-vpn")
        var match = ExceptionMatch()
        match.networks = [try #require(CIDRBlock(parsing: "203.0.113.0/24"))]
        source.snapshot.withLock { $0 = RuleExceptions([RuleException(name: "corp-vpn", comment: "c", owner: "o", expires: nil, match: match, tally: tally)]) }
        #expect(read(1) == 2, "within the batch: the snapshot taken before the swap")
        intake.refreshExceptions()
        #expect(read(2) == 1)
        #expect(output.counters.eventsRejected["exception"] == 1)
        #expect(tally.matches == 1)
    }
}
