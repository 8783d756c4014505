import CloudTrail
import Detection
import Foundation
import KafkaClient
import Logging
@testable import Pipeline
import Simulation

/// One run of the whole pipeline (route to alert) on a `SimulatedCluster`: one to four processes
/// over a random CloudTrail stream, a seeded schedule of turns, delivery reports, passing time and
/// faults (crashes, clean stops and starts, members expelled while alive, failed deliveries, outages,
/// fenced producers), then a
/// quiet end; and the check of its alerts against the batch oracle. The same seed makes the same run.
struct SimulationRun {
    struct Schedule: CustomStringConvertible {
        var seed: UInt64
        var guarantee: ProcessingGuarantee
        var keyed: Bool
        var partitions: Int
        var processes: Int
        var events: Int
        var steps: Int
        /// Percent of steps that inject a fault.
        var faultRate: Int
        /// `rule.suppression: {by: grouping_key, for: 1h}`: the oracle's windows merged into incidents.
        var suppression: Bool

        init(seed: UInt64) {
            var r = SplitMix64(seed: seed)
            self.seed = seed
            guarantee = r.next() % 2 == 0 ? .atLeastOnce : .exactlyOnce
            keyed = r.next() % 2 == 0
            partitions = 1 + Int(r.next() % 4)
            processes = 1 + Int(r.next() % 4)
            events = 120 + Int(r.next() % 160)
            steps = 150 + Int(r.next() % 250)
            faultRate = 2 + Int(r.next() % 8)
            suppression = r.next() % 3 == 0
        }

        var description: String {
            "seed \(seed): \(guarantee.rawValue), \(keyed ? "keyed" : "unkeyed"), \(partitions) partition(s), \(processes) process(es), \(events) events, \(steps) steps, faults \(faultRate)%\(suppression ? ", suppression" : "")"
        }
    }

    /// What the run found wrong; empty when it kept every promise.
    struct Outcome {
        var problems: [String] = []
        var finals = 0
        /// Windows that joined an earlier window's incident (suppression schedules).
        var suppressedWindows = 0
        var faults: [String: Int] = [:]
    }

    static let input = "cloudtrail"
    static let group = "tokentrail"

    let schedule: Schedule
    let cluster: SimulatedCluster
    let configuration: PipelineConfiguration
    let expected: Set<ExpectedAlert>
    private var processes: [Process?]
    private var incarnations: [Int]
    private var random: SplitMix64
    private var outcome = Outcome()

    final class Process {
        let runner: PipelineRunner<SimulatedConsumer, SimulatedProducer>
        let consumer: SimulatedConsumer
        let producer: SimulatedProducer
        init(runner: PipelineRunner<SimulatedConsumer, SimulatedProducer>, consumer: SimulatedConsumer, producer: SimulatedProducer) {
            self.runner = runner
            self.consumer = consumer
            self.producer = producer
        }
    }

    init(_ schedule: Schedule) throws {
        self.schedule = schedule
        random = SplitMix64(seed: schedule.seed ^ 0x5EED)
        var traffic = SimulationConfiguration()
        traffic.seed = schedule.seed
        traffic.eventCount = schedule.events
        traffic.attackCount = 2 + Int(schedule.seed % 3)
        traffic.nearMissCount = 2
        traffic.partitions = schedule.partitions
        traffic.keyed = schedule.keyed
        traffic.duration = .seconds(3 * 3600)
        // Few principals: their attacks fall in neighbouring windows, which suppression merges.
        if schedule.suppression { traffic.principalCount = 4 }
        let generator = try TrafficGenerator(traffic)
        let windows = generator.expectedAlerts()
        expected = Set(schedule.suppression ? Self.incidents(windows, period: Self.suppressionPeriod) : windows)
        outcome.suppressedWindows = windows.count - expected.count
        // The wall clock starts after the last event: nothing is from the future, and a partition is
        // idle only once it has been read through.
        let end = traffic.start.millisecondsSinceEpoch + traffic.duration.milliseconds
        // With suppression, incidents close `for` after their last window: the idle watermark of the
        // quiet end must get that far.
        cluster = SimulatedCluster(seed: schedule.seed, wallMilliseconds: end + 600_000 + (schedule.suppression ? Self.suppressionPeriod : 0))
        var c = PipelineConfiguration(inputTopics: [Self.input], groupID: Self.group, inputKeyed: schedule.keyed,
                                      processingGuarantee: schedule.guarantee)
        c.commitInterval = .seconds(2)
        c.tickInterval = .milliseconds(500)
        if schedule.suppression {
            c.detector.suppression = SuppressionConfiguration(by: .groupingKey, period: .seconds(Self.suppressionPeriod / 1000))
        }
        configuration = c
        let n = schedule.partitions
        cluster.createTopic(Self.input, partitions: n)
        for topic in [c.outputTopic, c.deadLetterTopic, c.effectiveCheckpointTopic] { cluster.createTopic(topic, partitions: n) }
        if !schedule.keyed { cluster.createTopic(c.effectiveRepartitionTopic, partitions: n) }
        let cluster = cluster
        cluster.group.partitionCounts = { cluster.partitionCounts }
        // All input is there from the start, as when tokentrail starts on a backlog.
        for e in generator {
            cluster.append(SimulatedCluster.Record(key: nil, value: e.json, timestamp: nil, transaction: nil),
                           to: KafkaTopicPartition(Self.input, Int32(e.partition)))
        }
        processes = Array(repeating: nil, count: 4)
        incarnations = Array(repeating: 0, count: 4)
    }

    static let suppressionPeriod: Int64 = 3_600_000

    /// The batch oracle of suppression by grouping key: per principal, windows in order, a window
    /// joins the incident before it when it starts less than `period` after its last window ends. An
    /// incident's final names the principal, its first window's start, and the union of the addresses.
    static func incidents(_ windows: [ExpectedAlert], period: Int64) -> [ExpectedAlert] {
        let size = ExpectedAlerts.windowMilliseconds
        var out: [ExpectedAlert] = []
        for (arn, list) in Dictionary(grouping: windows, by: \.principalArn) {
            var current: (start: EventTime, lastEnd: Int64, addresses: Set<String>)?
            for w in list.sorted(by: { $0.windowStart < $1.windowStart }) {
                let start = w.windowStart.millisecondsSinceEpoch
                if let c = current, start < c.lastEnd + period {
                    current = (c.start, start + size, c.addresses.union(w.sourceAddresses))
                } else {
                    if let c = current { out.append(incident(arn, c.start, c.addresses)) }
                    current = (w.windowStart, start + size, Set(w.sourceAddresses))
                }
            }
            if let c = current { out.append(incident(arn, c.start, c.addresses)) }
        }
        return out
    }

    private static func incident(_ arn: String, _ start: EventTime, _ addresses: Set<String>) -> ExpectedAlert {
        let sorted = addresses.map { SourceAddress(parsing: $0) }.sorted { a, b in
            switch (a, b) {
            case (.ipv4(let x), .ipv4(let y)): x < y
            case (.ipv4, _): true
            case (.ipv6(let h1, let l1), .ipv6(let h2, let l2)): (h1, l1) < (h2, l2)
            default: false
            }
        }
        return ExpectedAlert(principalArn: arn, windowStart: start, sourceAddresses: sorted.map(\.canonicalText))
    }

    private static let quiet = Logger(label: "simulation") { _ in SwiftLogNoOpLogHandler() }

    private mutating func start(_ slot: Int) throws {
        var c = configuration
        c.instanceID = "p\(slot)"
        incarnations[slot] += 1
        let deliveries = DeliveryTracker()
        let consumer = SimulatedConsumer(cluster: cluster, member: "p\(slot).\(incarnations[slot])")
        let producer = SimulatedProducer(cluster: cluster, transactionalID: c.processingGuarantee == .exactlyOnce ? c.transactionalID : nil) {
            deliveries.reported($0, error: $1, record: $2)
        }
        let runner = PipelineRunner(
            configuration: c, logger: Self.quiet,
            clients: .init(consumer: consumer, producer: producer, admin: SimulatedMetadata(cluster: cluster),
                           checkpoints: SimulatedCheckpoints(cluster: cluster, topic: c.effectiveCheckpointTopic, group: c.groupID),
                           clock: cluster.clock),
            deliveries: deliveries, partitionCounts: cluster.partitionCounts)
        processes[slot] = Process(runner: runner, consumer: consumer, producer: producer)
        do {
            try runner.start(until: { false })
        } catch {
            crash(slot)
        }
    }

    /// All of the process's memory is gone; the group and the transaction coordinator find out.
    private mutating func crash(_ slot: Int) {
        guard let p = processes[slot] else { return }
        p.consumer.crash()
        if let id = p.producer.transactionalID { cluster.abortOpenTransaction(of: id) }
        processes[slot] = nil
    }

    private mutating func turn(_ slot: Int) {
        guard let p = processes[slot] else { return }
        do {
            try p.runner.turn()
        } catch {
            // The process stops with an error (exit 1); its supervisor starts it again later.
            outcome.faults["exited: \((error as? KafkaError)?.code.name ?? "\(error)")", default: 0] += 1
            crash(slot)
        }
    }

    private mutating func count(_ fault: String) { outcome.faults[fault, default: 0] += 1 }

    private mutating func pick(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }

    mutating func run() throws -> Outcome {
        for slot in 0..<schedule.processes { try start(slot) }
        for _ in 0..<schedule.steps {
            let live = processes.indices.filter { processes[$0] != nil }
            let roll = pick(100)
            if roll < schedule.faultRate {
                try fault(live)
            } else if roll < 75, !live.isEmpty {
                turn(live[pick(live.count)])
            } else if roll < 90, !live.isEmpty {
                let p = processes[live[pick(live.count)]]!
                p.producer.deliver(pick(p.producer.undelivered + 1))
            } else {
                cluster.clock.advance(.milliseconds(Int64(pick(3_000))))
            }
        }
        // The quiet end: every process up, no faults, time enough for every window to close.
        cluster.awayUntil = nil
        cluster.failingSends = 0
        for slot in 0..<4 where processes[slot] == nil && (slot < schedule.processes) { try start(slot) }
        // Idle after `idle_timeout` (30 s) at the end of the input, then markers, finals and commits.
        let until = cluster.clock.now + .seconds(75)
        while cluster.clock.now < until {
            for slot in processes.indices where processes[slot] != nil {
                turn(slot)
                processes[slot]?.producer.deliver()
            }
            cluster.clock.advance(.seconds(1))
            for slot in 0..<4 where processes[slot] == nil && slot < schedule.processes { try start(slot) }
        }
        check()
        return outcome
    }

    private mutating func fault(_ live: [Int]) throws {
        switch pick(8) {
        case 0 where !live.isEmpty:
            count("crash")
            crash(live[pick(live.count)])
        case 1:
            // A crashed or stopped process comes back (or a new one joins).
            let down = processes.indices.filter { processes[$0] == nil }
            if let slot = down.first.map({ _ in down[pick(down.count)] }) {
                count("start")
                try start(slot)
            }
        case 2 where live.count > 1:
            // A clean stop: the final commit and revoke, then it leaves the group.
            let slot = live[pick(live.count)]
            count("stop")
            do {
                try processes[slot]!.runner.finish()
                processes[slot] = nil
            } catch {
                // It exits with an error before leaving the group: the group finds out as from a crash.
                count("stop failed")
                crash(slot)
            }
        case 3:
            count("failed delivery")
            cluster.failingSends = 1
            cluster.failingTopic = pick(2) == 0 ? configuration.outputTopic : configuration.effectiveCheckpointTopic
        case 4:
            count("outage")
            cluster.awayUntil = cluster.clock.now + .milliseconds(Int64(1_000 + pick(20_000)))
        case 5 where configuration.processingGuarantee == .exactlyOnce && !live.isEmpty:
            count("fenced")
            cluster.fence(processes[live[pick(live.count)]]!.producer.transactionalID!)
        case 6 where !live.isEmpty:
            // A member misses its session timeout while alive: the group hands its partitions on,
            // and it finds out (partitions lost) at its next poll.
            count("expelled")
            cluster.group.expel(processes[live[pick(live.count)]]!.consumer.member)
        default:
            cluster.clock.advance(.seconds(Int64(1 + pick(10))))
        }
    }

    /// Every final alert present with the oracle's evidence, nothing else; a repeat is the same
    /// alert id and revision with the same content (at-least-once), and exactly-once has none for a
    /// `read_committed` reader.
    private mutating func check() {
        var finals = Set<ExpectedAlert>()
        var seen: [String: NSDictionary] = [:]
        var statuses: [String: [String]] = [:]
        for r in cluster.committedRecords(configuration.outputTopic) {
            guard var alert = (try? JSONSerialization.jsonObject(with: Data(r.value))) as? [String: Any],
                  let id = alert["alert_id"] as? String, let revision = alert["revision"] as? Int else {
                outcome.problems.append("an output record is not an alert")
                continue
            }
            alert = withoutDetectionTime(alert)
            let key = "\(id)#\(revision)"
            if let earlier = seen[key] {
                if configuration.processingGuarantee == .exactlyOnce { outcome.problems.append("\(key) repeated under exactly-once") }
                if earlier != alert as NSDictionary { outcome.problems.append("\(key) repeated with other content") }
            } else {
                seen[key] = alert as NSDictionary
            }
            if let arn = (alert["principal"] as? [String: Any])?["arn"] as? String,
               let start = (alert["window"] as? [String: Any])?["start"] as? String {
                let n = ((alert["source_addresses"] as? [String: Any])?["values"] as? [String])?.count ?? 0
                statuses["\(arn) \(start)", default: []].append("\(alert["status"] ?? "?")#\(revision)/\(n)")
            }
            guard alert["status"] as? String == "final",
                  let arn = (alert["principal"] as? [String: Any])?["arn"] as? String,
                  let start = ((alert["window"] as? [String: Any])?["start"] as? String).flatMap(RFC3339.parse),
                  let addresses = (alert["source_addresses"] as? [String: Any])?["values"] as? [String] else { continue }
            finals.insert(ExpectedAlert(principalArn: arn, windowStart: start, sourceAddresses: addresses))
        }
        outcome.finals = finals.count
        for missing in expected.subtracting(finals).sorted() {
            let seenAs = statuses["\(missing.principalArn) \(RFC3339.format(missing.windowStart))"] ?? []
            outcome.problems.append("missing final: \(missing); emitted: \(seenAs)")
        }
        for extra in finals.subtracting(expected).sorted() { outcome.problems.append("final not expected: \(extra)") }
    }
}
