import Foundation
import KafkaClient
import KafkaTestSupport
import Testing

/// Crashes, scale-out and a frozen broker, with traffic flowing; the oracle still decides.
@Suite(.serialized, .enabled(if: TestBroker.isEnabled), .timeLimit(.minutes(6)))
struct FaultTests {
    /// Starts the simulator without waiting for it (a steady rate, so faults land mid-stream).
    func simulateInBackground(_ s: Scenario, _ args: [String]) throws -> TokentrailProcess {
        try TokentrailProcess(["simulate", "--bootstrap-servers", s.bootstrap, "--topic", s.input, "--expect", s.expectFile.path] + args,
                              name: "simulate")
    }

    func finish(_ sim: TokentrailProcess) throws {
        guard sim.wait(timeout: .seconds(240)) == 0 else { throw Scenario.Failure("simulate failed:\n\(sim.log.suffix(2000))") }
    }

    func crashThreeTimes(guarantee: String) throws -> (Scenario, AlertReader, Set<String>, String) {
        let s = try Scenario(bootstrap: try TestBroker.require())
        let extra = ["--processing-guarantee", guarantee, "--instance-id", "crash-1"]
        let sim = try simulateInBackground(s, ["--count", "30000", "--attacks", "30", "--partitions", "4", "--seed", "5", "--rate", "2500"])
        var tt = try s.start("crash-0", extra)
        var logs = ""
        var rng = SystemRandomNumberGenerator()
        for i in 1...3 {
            Thread.sleep(forTimeInterval: Double.random(in: 2.5...5.0, using: &rng))
            tt.signal(SIGKILL)
            _ = tt.wait(timeout: .seconds(10))
            logs += tt.log.suffix(800)
            tt = try s.start("crash-\(i)", extra)
        }
        try finish(sim)
        let expected = try s.expected()
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        let got = try s.awaitFinals(reader, covering: expected, timeout: .seconds(180))
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        #expect(got == expected, "\(diff(got, expected))\n\(logs)\n\(tt.log.suffix(1500))")
        return (s, reader, expected, logs)
    }

    @Test func killNineThreeTimesLosesNoFinalAndRepeatsAreIdentical() throws {
        let (_, reader, _, _) = try crashThreeTimes(guarantee: "at_least_once")
        #expect(inconsistentRepeats(reader.alerts).isEmpty, "same id and revision, different content: \(inconsistentRepeats(reader.alerts).prefix(3))")
        let repeats = reader.alerts.count - Set(reader.alerts.map { "\($0.id)#\($0.revision)" }).count
        print("at-least-once crash test: \(reader.alerts.count) alerts, \(repeats) repeats")
    }

    @Test func exactlyOnceReaderSeesEachAlertRevisionOnce() throws {
        let (_, reader, _, _) = try crashThreeTimes(guarantee: "exactly_once")
        let keys = reader.alerts.map { "\($0.id)#\($0.revision)" }
        let dupes = Dictionary(grouping: keys, by: { $0 }).filter { $0.value.count > 1 }.keys
        #expect(dupes.isEmpty, "seen more than once: \(dupes.sorted().prefix(5))")
    }

    @Test func scaleOutToThreeAndBackStillExact() throws {
        let s = try Scenario(bootstrap: try TestBroker.require())
        let sim = try simulateInBackground(s, ["--count", "30000", "--attacks", "30", "--partitions", "4", "--seed", "6", "--rate", "2500"])
        let first = try s.start("scale-0")
        Thread.sleep(forTimeInterval: 3)
        let second = try s.start("scale-1")
        let third = try s.start("scale-2")
        Thread.sleep(forTimeInterval: 5)
        second.signal(SIGTERM)
        #expect(second.wait(timeout: .seconds(35)) == 0, "a member stops cleanly on SIGTERM")
        try finish(sim)
        let expected = try s.expected()
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        let got = try s.awaitFinals(reader, covering: expected, timeout: .seconds(180))
        for p in [first, third] { p.signal(SIGTERM) }
        #expect(first.wait(timeout: .seconds(35)) == 0)
        #expect(third.wait(timeout: .seconds(35)) == 0)
        #expect(got == expected, "\(diff(got, expected))\n\(first.log.suffix(1500))")
        #expect(inconsistentRepeats(reader.alerts).isEmpty)
    }

    @Test func brokerFrozenForTwentySecondsMidStream() throws {
        _ = try TestBroker.require()
        let broker = try PrivateBroker()
        let s = try Scenario(bootstrap: broker.bootstrap)
        let sim = try simulateInBackground(s, ["--count", "20000", "--attacks", "20", "--partitions", "4", "--seed", "7", "--rate", "2000"])
        let tt = try s.start("pause")
        // Freeze mid-stream: once a tenth of the events are in the topic, whatever the machine's speed.
        let watcher = try KafkaConsumer(configuration: TestBroker.consumerConfig(s.bootstrap, group: TestBroker.unique("watch")), logger: TestBroker.logger)
        try watcher.subscribe(topics: [s.input])
        var seen = 0
        let until = ContinuousClock.now + .seconds(120)
        while seen < 2_000, ContinuousClock.now < until {
            if case .message? = try watcher.poll(timeout: .milliseconds(100)) { seen += 1 }
        }
        try watcher.close()
        #expect(seen >= 2_000, "the simulator got going")
        broker.pause()
        Thread.sleep(forTimeInterval: 20)
        broker.resume()
        try finish(sim)
        let expected = try s.expected()
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        let got = try s.awaitFinals(reader, covering: expected, timeout: .seconds(180))
        #expect(tt.isRunning, "tokentrail survived the frozen broker:\n\(tt.log.suffix(2000))")
        tt.signal(SIGTERM)
        _ = tt.wait(timeout: .seconds(35))
        #expect(got == expected, "\(diff(got, expected))\n\(tt.log.suffix(1500))")
    }
}
