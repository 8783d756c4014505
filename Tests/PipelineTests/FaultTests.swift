import Foundation
import KafkaClient
import KafkaTestSupport
import Testing

/// Crashes, scale-out and a frozen broker, with traffic flowing; the oracle still decides.
@Suite(.ownThreads, .enabled(if: TestBroker.isEnabled), .timeLimit(.minutes(6)))
struct FaultTests {
    /// Starts the simulator without waiting for it (a steady rate, so faults land mid-stream).
    func simulateInBackground(_ s: Scenario, _ args: [String]) throws -> TokentrailProcess {
        try TokentrailProcess(["simulate", "--bootstrap-servers", s.bootstrap, "--topic", s.input, "--expect", s.expectFile.path] + args,
                              name: "simulate")
    }

    func finish(_ sim: TokentrailProcess) throws {
        guard sim.wait(timeout: .seconds(240)) == 0 else { throw Scenario.Failure("simulate failed:\n\(sim.log.suffix(2000))") }
    }

    /// One SIGKILLed incarnation: when it started, when its last transaction committed (from its
    /// debug log; nil if none did), and when it was killed.
    struct Crash {
        var started: Date
        var lastCommit: Date?
        var killed: Date
        var log: String
        /// Whether an alert with this `detected_at` (whole seconds, rounded down) may have been
        /// detected after the last commit and before the kill: in the transaction the kill left open.
        func leftOpen(detectedAt second: Date) -> Bool {
            second > (lastCommit ?? started).addingTimeInterval(-1) && second <= killed
        }
    }

    func crashThreeTimes(guarantee: String, commitIntervalMilliseconds: Int = 500) throws -> (reader: AlertReader, crashes: [Crash], logs: String) {
        let s = try Scenario(bootstrap: try TestBroker.require())
        let extra = ["--processing-guarantee", guarantee, "--instance-id", "crash-1", "--log-level", "debug",
                     "--commit-interval-ms", String(commitIntervalMilliseconds)]
        let sim = try simulateInBackground(s, ["--count", "30000", "--attacks", "30", "--partitions", "4", "--seed", "5", "--rate", "2500"])
        var started = Date()
        var tt = try s.start("crash-0", extra)
        var logs = ""
        var crashes: [Crash] = []
        var rng = SystemRandomNumberGenerator()
        for i in 1...3 {
            // Kill while it works: once it owns partitions (a join takes seconds), at a random moment.
            let joined = ContinuousClock.now + .seconds(30)
            while !tt.log.contains("partition assigned"), ContinuousClock.now < joined { Thread.sleep(forTimeInterval: 0.1) }
            Thread.sleep(forTimeInterval: Double.random(in: 1.0...3.0, using: &rng))
            let killed = Date()
            tt.signal(SIGKILL)
            _ = tt.wait(timeout: .seconds(10))
            let log = tt.log
            crashes.append(Crash(started: started, lastCommit: lastTransactionCommit(in: log), killed: killed, log: tt.logURL.path))
            logs += "\n[log \(tt.logURL.path)]\n" + log.suffix(800)
            started = Date()
            tt = try s.start("crash-\(i)", extra)
        }
        try finish(sim)
        let expected = try s.expected()
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        let got = try s.awaitFinals(reader, covering: expected, timeout: .seconds(180))
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        #expect(got == expected, "\(diff(got, expected))\n\(logs)\n\(tt.log.suffix(1500))")
        #expect(inconsistentRepeats(reader.alerts).isEmpty, "same id and revision, different content: \(inconsistentRepeats(reader.alerts).prefix(3))")
        return (reader, crashes, logs)
    }

    /// The time of the last "transaction committed" line of a JSON-lines log.
    func lastTransactionCommit(in log: String) -> Date? {
        let iso = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        return log.split(separator: "\n").reversed().lazy.compactMap { line -> Date? in
            guard line.contains("transaction committed"),
                  let j = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  j["message"] as? String == "transaction committed", let ts = j["ts"] as? String else { return nil }
            return try? iso.parse(ts)
        }.first
    }

    @Test func killNineThreeTimesLosesNoFinalAndRepeatsAreIdentical() throws {
        let (reader, _, _) = try crashThreeTimes(guarantee: "at_least_once")
        let repeats = reader.alerts.count - Set(reader.alerts.map { "\($0.id)#\($0.revision)" }).count
        print("at-least-once crash test: \(reader.alerts.count) alerts, \(repeats) repeats")
    }

    /// Exactly-once across SIGKILL. Apache Kafka aborts a crashed transaction when the restarted
    /// instance (same transactional.id) calls InitProducerId; tansu instead makes it visible to
    /// read_committed readers (docs/tansu.md). So a repeat is allowed only for an alert the killed
    /// instance detected after its last commit, i.e. one that was in the transaction the kill left
    /// open; any other repeat (a stale checkpoint, a replay not suppressed) is ours and fails.
    @Test func exactlyOnceReaderSeesEachAlertRevisionOnce() throws {
        // Long transactions: a kill is likely to land in one holding alerts.
        let (reader, crashes, logs) = try crashThreeTimes(guarantee: "exactly_once", commitIntervalMilliseconds: 2_000)
        let iso = Date.ISO8601FormatStyle()
        var seen = Set<String>()
        var fromOpenTransactions: [String] = []
        var unexplained: [String] = []
        for a in reader.alerts {
            let key = "\(a.id)#\(a.revision)"
            guard seen.insert(key).inserted else { continue }
            // First copy of something seen twice: was it in a transaction a kill left open?
            guard reader.alerts.lazy.filter({ "\($0.id)#\($0.revision)" == key }).count > 1 else { continue }
            let detected = (a.json["detected_at"] as? String).flatMap { try? iso.parse($0) }
            if let detected, crashes.contains(where: { $0.leftOpen(detectedAt: detected) }) {
                fromOpenTransactions.append(key)
            } else {
                unexplained.append("\(a.id.prefix(12))#\(a.revision) at \(a.position), detected \(a.json["detected_at"] ?? "?")")
            }
        }
        print("exactly-once crash test: \(reader.alerts.count) alerts; \(fromOpenTransactions.count) repeated from transactions left open by a kill (tansu)")
        #expect(unexplained.isEmpty, "seen more than once, not from a transaction left open by a kill: \(unexplained.prefix(10))\ncrashes: \(crashes)\n\(logs)")
    }

    /// Exactly-once, two processes of one group on one host, no `instance_id` configured, traffic
    /// flowing: each takes a transactional id of its own (the host name, then `<host>-1`), so
    /// neither fences the other (the broker fences the older producer of a `transactional.id` on
    /// every InitProducerId).
    @Test func twoExactlyOnceProcessesOnOneHostDoNotFenceEachOther() throws {
        let s = try Scenario(bootstrap: try TestBroker.require())
        let sim = try simulateInBackground(s, ["--count", "20000", "--attacks", "20", "--partitions", "4", "--seed", "8", "--rate", "2000"])
        let first = try s.start("host-a", ["--processing-guarantee", "exactly_once"])
        let joined = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < joined, !first.log.contains("partitions assigned") { Thread.sleep(forTimeInterval: 0.1) }
        let second = try s.start("host-b", ["--processing-guarantee", "exactly_once"])
        try finish(sim)
        let expected = try s.expected()
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        let got = try s.awaitFinals(reader, covering: expected, timeout: .seconds(180))
        #expect(got == expected, "\(diff(got, expected))")
        #expect(first.isRunning && second.isRunning, "fenced?\n\(first.log.suffix(1500))\n\(second.log.suffix(1500))")
        for p in [first, second] { p.signal(SIGTERM) }
        #expect(first.wait(timeout: .seconds(35)) == 0)
        #expect(second.wait(timeout: .seconds(35)) == 0)
        let host = ProcessInfo.processInfo.hostName
        #expect(first.log.contains(#""instance_id":"\#(host)""#), "\(first.log.prefix(1500))")
        #expect(second.log.contains(#""instance_id":"\#(host)-1""#), "\(second.log.prefix(1500))")
        #expect(!(first.log + second.log).lowercased().contains("fenced"), "neither producer is fenced")
        #expect(inconsistentRepeats(reader.alerts).isEmpty)
    }

    @Test func scaleOutToThreeAndBackStillExact() throws {
        let s = try Scenario(bootstrap: try TestBroker.require())
        let sim = try simulateInBackground(s, ["--count", "30000", "--attacks", "30", "--partitions", "4", "--seed", "6", "--rate", "2500"])
        let first = try s.start("scale-0")
        #expect(first.awaitLog("partition assigned", timeout: .seconds(60)), "the first member joined:\n\(first.log.suffix(1500))")
        let second = try s.start("scale-1")
        let third = try s.start("scale-2")
        // Scaled out once both newcomers hold partitions of their own.
        #expect(second.awaitLog("partition assigned", timeout: .seconds(60)), "the second member joined:\n\(second.log.suffix(1500))")
        #expect(third.awaitLog("partition assigned", timeout: .seconds(60)), "the third member joined:\n\(third.log.suffix(1500))")
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

    /// SIGTERM while the broker is frozen: nothing can be flushed or committed, and `run` still ends
    /// within `shutdown_timeout`, not with a clean status (it committed nothing). A process started
    /// once the broker is back replays from the last commit: no final alert is lost.
    @Test(arguments: ["at_least_once", "exactly_once"])
    func stopWhileTheBrokerIsFrozenKeepsTheShutdownBoundAndLosesNothing(guarantee: String) throws {
        _ = try TestBroker.require()
        let broker = try PrivateBroker()
        let s = try Scenario(bootstrap: broker.bootstrap)
        let expected = try s.simulate(["--count", "5000", "--attacks", "10", "--partitions", "4", "--seed", "9"])
        let extra = ["--processing-guarantee", guarantee, "--instance-id", "stop-\(guarantee)", "--shutdown-timeout-seconds", "10"]
        let tt = try s.start("stop-frozen", extra)
        let caughtUp = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < caughtUp, !tt.log.contains("caught up with the input") { Thread.sleep(forTimeInterval: 0.1) }
        broker.pause()
        Thread.sleep(forTimeInterval: 1)
        tt.signal(SIGTERM)
        let status = tt.wait(timeout: .seconds(40))
        broker.resume()
        #expect(status != nil, "run ends within its shutdown bound with the broker frozen:\n\(tt.log.suffix(1500))")
        #expect(status != 0, "a stop that committed nothing is not a clean stop:\n\(tt.log.suffix(1500))")
        let (got, _, log) = try s.detectUntilFinals("after-frozen-stop", extra, covering: expected, timeout: .seconds(120))
        #expect(got == expected, "\(diff(got, expected))\n\(log.suffix(1500))")
    }

    /// A minute without a broker (SIGSTOP, then SIGCONT), longer than the session timeout and every
    /// 30 s client call: the member is ejected from its group and its transaction cannot complete.
    @Test(arguments: ["at_least_once", "exactly_once"])
    func brokerFrozenForAMinuteMidStream(guarantee: String) throws {
        _ = try TestBroker.require()
        let broker = try PrivateBroker()
        let s = try Scenario(bootstrap: broker.bootstrap)
        let sim = try simulateInBackground(s, ["--count", "20000", "--attacks", "20", "--partitions", "4", "--seed", "7", "--rate", "2000"])
        let tt = try s.start("pause", ["--processing-guarantee", guarantee, "--instance-id", "pause-\(guarantee)"])
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
        Thread.sleep(forTimeInterval: 60)
        broker.resume()
        try finish(sim)
        let expected = try s.expected()
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        let got = try s.awaitFinals(reader, covering: expected, timeout: .seconds(180))
        #expect(tt.isRunning, "tokentrail survived the frozen broker:\n\(tt.log.suffix(2000))")
        tt.signal(SIGTERM)
        _ = tt.wait(timeout: .seconds(35))
        #expect(got == expected, "\(diff(got, expected))\n\(tt.log.suffix(1500))")
        #expect(inconsistentRepeats(reader.alerts).isEmpty)
        if guarantee == "exactly_once" {
            let revisions = reader.alerts.map { "\($0.id)#\($0.revision)" }
            #expect(Set(revisions).count == revisions.count, "a read_committed reader saw an alert revision twice")
        }
    }
}
