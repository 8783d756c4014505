import Foundation
import KafkaClient
import KafkaTestSupport
import Testing

/// Broker faults tansu cannot make, injected by librdkafka's mock cluster (brokers inside the test
/// process, on loopback TCP), against the built binary: a topic that refuses alerts as too large,
/// transactions that must be aborted. The output topic has a broker of its own, so that an error
/// injected into that broker's produce requests hits alerts and nothing else. No external broker:
/// these run everywhere.
@Suite(.ownThreads, .serialized, .timeLimit(.minutes(5)))
struct MockClusterTests {
    /// The simulator's traffic, with the oracle's final windows.
    static let traffic = ["--count", "5000", "--attacks", "10", "--partitions", "4", "--seed", "21"]

    /// At-least-once, alerts the broker refuses as too large for the topic (`MSG_SIZE_TOO_LARGE`, as
    /// from a topic whose `max.message.bytes` is below the alert): the process goes on, each refused
    /// alert is on the dead-letter topic in a cut form that says why, and every final window is on
    /// one of the two.
    @Test func alertsTheBrokerRefusesGoToTheDeadLetterTopicAndRunGoesOn() throws {
        let mock = try MockCluster(brokers: 2)
        let s = try Scenario(mock: mock)
        mock.pushErrors(.produce, broker: 2, .messageTooLarge, count: 3)
        let expected = try s.simulate(Self.traffic)
        let tt = try s.start("refused")
        let (output, refused) = try readUntilFinals(s, covering: expected, from: tt)
        #expect(tt.isRunning, "run goes on after a refused alert:\n\(tt.log.suffix(2000))")
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        #expect(!refused.alerts.isEmpty, "the refused alerts are dead-lettered")
        let dead = try readTopic(s.bootstrap, "\(s.group).dlq", for: .seconds(3))
        #expect(dead.count == refused.alerts.count)
        for d in dead {
            #expect(d.header("tokentrail.error")?.stringValue == "record_refused")
            #expect(d.header("tokentrail.refused.topic")?.stringValue == s.output)
            #expect(d.header("tokentrail.refused.error")?.stringValue?.hasPrefix("MSG_SIZE_TOO_LARGE") == true)
            #expect(d.header("tokentrail.alert_id") != nil && d.header("content-type") == nil)
        }
        #expect(tt.log.contains("the broker refused a record"))
        #expect(inconsistentRepeats(output.alerts + refused.alerts).isEmpty)
    }

    /// At-least-once, alerts not delivered (`TOPIC_AUTHORIZATION_FAILED`: neither retried nor a
    /// refusal of the record) and first seen when partitions are revoked (no periodic commit in this
    /// test): under cooperative-sticky the member keeps its other partitions, and no commit may move
    /// them past an alert that was never delivered. The member stops instead; the one that takes
    /// over replays from the last commit, and every final window arrives.
    @Test func aDeliveryFailureSeenWhilePartitionsAreRevokedIsNeverCommittedPast() throws {
        let mock = try MockCluster(brokers: 2)
        let s = try Scenario(mock: mock)
        mock.pushErrors(.produce, broker: 2, .topicAuthorizationFailed, count: 3)
        let expected = try s.simulate(Self.traffic)
        let noPeriodicCommit = ["--commit-interval-ms", "600000"]
        let first = try s.start("revoke-a", noPeriodicCommit)
        let caughtUp = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < caughtUp, mock.pendingErrors(.produce, broker: 2) > 0 || !first.log.contains("caught up with the input") {
            Thread.sleep(forTimeInterval: 0.2)
        }
        Thread.sleep(forTimeInterval: 1)
        let second = try s.start("revoke-b", noPeriodicCommit)
        let output = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        // The first member stops on the failure by itself; if it (wrongly) goes on, SIGTERM makes it commit.
        let firstStatus = first.wait(timeout: .seconds(60))
        if firstStatus == nil {
            first.signal(SIGTERM)
            _ = first.wait(timeout: .seconds(35))
        }
        let got = try s.awaitFinals(output, covering: expected, timeout: .seconds(120))
        second.signal(SIGTERM)
        #expect(second.wait(timeout: .seconds(35)) == 0)
        #expect(got == expected, "\(diff(got, expected))\nfirst:\n\(first.log.suffix(2000))")
        #expect(firstStatus == 1, "the member that saw the failure stops by itself, with an error")
        #expect(first.log.contains("not delivered"))
    }

    /// Exactly-once: a produce request to the output answered `UNKNOWN_PRODUCER_ID` (the transaction
    /// must be aborted), transaction ends answered with retriable coordinator errors. The process
    /// aborts, rewinds and goes on, and the traffic that follows makes every final alert, each
    /// revision once, for a `read_committed` reader.
    ///
    /// What the aborted transaction held is not checked here: the mock cluster has no transactional
    /// isolation (a `read_committed` fetch sees aborted records: its last stable offset is the log's
    /// end, it lists no aborted transactions and EndTxn writes no markers), so the rewind reads the
    /// aborted transaction's checkpoints as committed. The broker-freeze test checks that on tansu.
    @Test func exactlyOnceAbortsAFailedTransactionAndGoesOn() throws {
        let mock = try MockCluster(brokers: 2)
        let s = try Scenario(mock: mock)
        mock.pushErrors(.produce, broker: 2, .unknownProducerId, count: 1)
        mock.pushErrors(.endTxn, [.concurrentTransactions, .notCoordinator, .coordinatorNotAvailable])
        try s.simulate(Self.traffic)
        let tt = try s.start("abort", ["--processing-guarantee", "exactly_once", "--instance-id", "abort"])
        let aborted = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < aborted, tt.isRunning,
              !tt.log.contains("transaction aborted; rewinding") || mock.pendingErrors(.produce, broker: 2) > 0 {
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(tt.log.contains("transaction aborted; rewinding"), "the injected error aborted a transaction:\n\(tt.log.suffix(2000))")
        // Traffic after the aborts: a day later, windows of its own.
        let later = try s.simulate(["--count", "5000", "--attacks", "10", "--partitions", "4", "--seed", "22",
                                    "--start", "2026-03-03T00:00:00Z"])
        let output = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        let got = try s.awaitFinals(output, covering: later, timeout: .seconds(150))
        #expect(got.isSuperset(of: later), "\(diff(got, later))\n\(tt.log.suffix(3000))")
        #expect(tt.isRunning, "\(tt.log.suffix(2000))")
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        let afterAborts = output.alerts.filter { $0.windowStart >= "2026-03-03" }
        #expect(repeats(afterAborts).isEmpty, "seen more than once: \(repeats(afterAborts).prefix(5))")
    }

    /// Reads the output topic and the dead-letter topic until the final windows on the two cover
    /// `expected`, or `tt` exits (a dead-lettered cut form of an alert below `RefusedRecords.cutBytes` is the whole alert).
    /// `--output-format ocsf`: every alert on the output topic is an OCSF Detection Finding under
    /// the same key and headers, its content-type naming the format, and the final findings are the
    /// oracle's windows.
    @Test func alertsAreWrittenInTheConfiguredFormat() throws {
        let mock = try MockCluster(brokers: 2)
        let s = try Scenario(mock: mock)
        let expected = try s.simulate(Self.traffic)
        let tt = try s.start("ocsf", ["--output-format", "ocsf"])
        func object(_ m: KafkaMessage) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(m.value))) as? [String: Any] ?? [:]
        }
        func finals(_ records: [KafkaMessage]) -> Set<String> {
            Set(records.map(object).filter { $0["activity_id"] as? Int == 3 }.map { r in
                let user = (r["actor"] as? [String: Any])?["user"] as? [String: Any]
                let window = ((r["unmapped"] as? [String: Any])?["tokentrail"] as? [String: Any])?["window"] as? [String: Any]
                let addresses = (r["evidences"] as? [[String: Any]] ?? []).compactMap { ($0["src_endpoint"] as? [String: Any])?["ip"] as? String }
                return Scenario.signature(user?["uid"] as? String ?? "?", window?["start"] as? String ?? "?", addresses)
            })
        }
        var records: [KafkaMessage] = []
        let deadline = ContinuousClock.now + .seconds(150)
        while ContinuousClock.now < deadline, tt.isRunning, !finals(records).isSuperset(of: expected) {
            records = try readTopic(s.bootstrap, s.output, for: .seconds(2))
        }
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        #expect(finals(records) == expected, "\(diff(finals(records), expected))\n\(tt.log.suffix(3000))")
        for m in records {
            let r = object(m)
            #expect(m.header("content-type")?.stringValue == "application/json; format=ocsf; version=1.8.0")
            #expect(r["class_uid"] as? Int == 2004)
            #expect(m.header("tokentrail.alert_id")?.stringValue == (r["finding_info"] as? [String: Any])?["uid"] as? String)
            let native = (r["unmapped"] as? [String: Any])?["tokentrail"] as? [String: Any]
            #expect(m.header("tokentrail.status")?.stringValue == native?["status"] as? String)
            #expect(m.header("tokentrail.revision")?.stringValue == (native?["revision"] as? Int).map(String.init))
        }
    }

    private func readUntilFinals(_ s: Scenario, covering expected: Set<String>, from tt: TokentrailProcess) throws
        -> (output: AlertReader, refused: AlertReader)
    {
        let output = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        let refused = try AlertReader(bootstrap: s.bootstrap, topic: "\(s.group).dlq")
        let deadline = ContinuousClock.now + .seconds(150)
        func finals() -> Set<String> {
            Set((output.finals + refused.finals).map { Scenario.signature($0.principal, $0.windowStart, $0.addresses) })
        }
        while ContinuousClock.now < deadline, !finals().isSuperset(of: expected), tt.isRunning {
            try output.read(until: .now + .milliseconds(500)) { _ in false }
            try refused.read(until: .now + .milliseconds(500)) { _ in false }
        }
        // Anything extra on its way shows up too.
        try output.read(until: .now + .seconds(2)) { _ in false }
        try refused.read(until: .now + .seconds(2)) { _ in false }
        #expect(finals() == expected, "\(diff(finals(), expected))\n\(tt.log.suffix(3000))")
        return (output, refused)
    }

    private func repeats(_ alerts: [ReadAlert]) -> [String] {
        var seen = Set<String>()
        return alerts.map { "\($0.id)#\($0.revision)" }.filter { !seen.insert($0).inserted }
    }
}
