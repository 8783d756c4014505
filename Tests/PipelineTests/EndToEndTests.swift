import Foundation
import KafkaClient
import KafkaTestSupport
import Testing

/// The built binary against the broker, with the simulator's traffic and its batch oracle.
@Suite(.ownThreads, .enabled(if: TestBroker.isEnabled), .timeLimit(.minutes(6)))
struct EndToEndTests {
    @Test func unkeyedHundredThousandEventsMatchTheOracleExactly() throws {
        let s = try Scenario(bootstrap: try TestBroker.require())
        let expected = try s.simulate(["--count", "100000", "--attacks", "50", "--partitions", "4", "--seed", "1"])
        #expect(expected.count >= 50)
        let tt = try s.start("unkeyed")
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        let got = try s.awaitFinals(reader, covering: expected, timeout: .seconds(240))
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        #expect(got == expected, "\(diff(got, expected))\n\(tt.log.suffix(1500))")
        #expect(Set(reader.finals.map(\.id)).count == reader.finals.count, "one final per window")
    }

    @Test func keyedInputMatchesTheOracleExactly() throws {
        let s = try Scenario(bootstrap: try TestBroker.require())
        let expected = try s.simulate(["--count", "100000", "--attacks", "50", "--partitions", "4", "--seed", "2", "--keyed"])
        let tt = try s.start("keyed", ["--input-keyed"])
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        let got = try s.awaitFinals(reader, covering: expected, timeout: .seconds(240))
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        #expect(got == expected, "\(diff(got, expected))\n\(tt.log.suffix(1500))")
    }

    @Test func skewedPartitionsStillMatchExactly() throws {
        let s = try Scenario(bootstrap: try TestBroker.require())
        // All of partition 0 is produced (and consumed, as it arrives) before anything of partitions 1-3:
        // their first events are hours older than partition 0's last. Idle timeout at its 30 s default,
        // so the empty partitions hold the watermark while partition 0 streams.
        let tt = try s.start("skew", ["--idle-timeout-seconds", "30"])
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        try reader.read(until: .now + .seconds(8)) { _ in false }  // joined, caught up on empty partitions
        let expected = try s.simulate(["--count", "40000", "--attacks", "30", "--partitions", "4", "--seed", "3",
                                       "--partition-order", "sequential", "--rate", "8000"])
        let got = try s.awaitFinals(reader, covering: expected, timeout: .seconds(180))
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        #expect(got == expected, "\(diff(got, expected))\n\(tt.log.suffix(1500))")
    }

    @Test func badRecordsAreDeadLetteredAndGoodEventsStillCount() throws {
        let s = try Scenario(bootstrap: try TestBroker.require())
        let expected = try s.simulate(["--count", "20000", "--attacks", "20", "--partitions", "4", "--seed", "8",
                                       "--bad-records", "12", "--batch", "3"])
        let tt = try s.start("bad")
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        let got = try s.awaitFinals(reader, covering: expected, timeout: .seconds(180))
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        #expect(got == expected, "\(diff(got, expected))\n\(tt.log.suffix(1500))")

        let dead = try readTopic(s.bootstrap, "\(s.group).dlq", for: .seconds(20))
        // Every bad record is there once (a batch once, naming its bad member), with its reason and origin:
        // 3 cut events and 3 of random bytes (not_json), 3 of 5 MiB without eventTime, 3 batches with one bad member.
        #expect(dead.count == 12, "dead-lettered \(dead.count)")
        let reasons = Set(dead.compactMap { $0.header("tokentrail.error")?.stringValue })
        #expect(reasons.isSuperset(of: ["not_json", "missing_event_time"]), "reasons: \(reasons)")
        #expect(dead.filter { $0.header("tokentrail.record_index") != nil }.count == 3, "the batch members say which member")
        #expect(dead.allSatisfy { $0.header("tokentrail.source.topic")?.stringValue == s.input && $0.header("tokentrail.source.offset") != nil })
        #expect(dead.contains { $0.header("tokentrail.truncated")?.stringValue == "true" }, "the 5 MiB record is kept, cut to the limit")
    }

    @Test func finalAlertsArriveAfterTheStreamStopsWithoutFurtherInput() throws {
        let s = try Scenario(bootstrap: try TestBroker.require())
        let tt = try s.start("eos-idle")
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        try reader.read(until: .now + .seconds(8)) { _ in false }  // joined and caught up
        let expected = try s.simulate(["--count", "5000", "--attacks", "10", "--partitions", "4", "--seed", "4"])
        let producedAt = ContinuousClock.now
        let got = try s.awaitFinals(reader, covering: expected, timeout: .seconds(60))
        let elapsed = ContinuousClock.now - producedAt - .seconds(3)
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        #expect(got == expected, "\(diff(got, expected))")
        // idle_timeout is 3 s here: every final within it plus a few seconds of the last event.
        #expect(elapsed < .seconds(15), "finals took \(elapsed) after the last event")
    }

    /// `--threads 2`: two pipelines in one process are two group members that share the partitions,
    /// each with its own transactional producer (a shared transactional.id would fence one of them).
    @Test func twoThreadsShareThePartitionsExactlyOnce() throws {
        let s = try Scenario(bootstrap: try TestBroker.require())
        let expected = try s.simulate(["--count", "40000", "--attacks", "30", "--partitions", "4", "--seed", "7"])
        let tt = try s.start("threads", ["--threads", "2", "--processing-guarantee", "exactly_once"])
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        let got = try s.awaitFinals(reader, covering: expected, timeout: .seconds(240))
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        #expect(got == expected, "\(diff(got, expected))\n\(tt.log.suffix(1500))")
        #expect(Set(reader.finals.map(\.id)).count == reader.finals.count, "one final per window")
        let assigned = tt.log.split(separator: "\n").filter { $0.contains("partition assigned") }
        for thread in ["0", "1"] {
            #expect(assigned.contains { $0.contains("\"thread\":\"\(thread)\"") }, "thread \(thread) owned partitions:\n\(assigned.joined(separator: "\n"))")
        }
        #expect(!tt.log.contains("stopped on error"), "\(tt.log.suffix(1500))")
    }
}
