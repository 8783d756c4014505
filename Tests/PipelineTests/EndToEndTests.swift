import Foundation
import KafkaClient
import KafkaTestSupport
import Testing

/// The built binary against the broker, with the simulator's traffic and its batch oracle.
/// Serialized: each test runs several processes, and the machine has two cores.
@Suite(.serialized, .enabled(if: TestBroker.isEnabled), .timeLimit(.minutes(6)))
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
        // All of partition 0 is produced and consumed before partitions 1-3 exist in the log.
        try s.simulate(["--count", "30000", "--attacks", "20", "--partitions", "4", "--seed", "3", "--partition-order", "sequential",
                        "--only-partitions", "0"])
        let tt = try s.start("skew")
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        try reader.read(until: .now + .seconds(15)) { _ in false }
        let expected = try s.simulate(["--count", "30000", "--attacks", "20", "--partitions", "4", "--seed", "3", "--partition-order", "sequential",
                                       "--only-partitions", "1,2,3"])
        let got = try s.awaitFinals(reader, covering: expected, timeout: .seconds(180))
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        #expect(got == expected, "\(diff(got, expected))\n\(tt.log.suffix(1500))")
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
}
