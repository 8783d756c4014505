import CloudTrail
import Detection
import Foundation
import KafkaClient
import Logging
@testable import Pipeline
import Simulation
import Testing

/// A record as a simulated cluster holds it.
struct InMemoryRecord: ConsumedRecord {
    var topic: String
    var partition: Int32
    var offset: Int64
    var timestampMilliseconds: Int64?
    var key: [UInt8]?
    var value: [UInt8]
    var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic, partition) }
    var valueCount: Int { value.count }
    func withValueBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try value.withUnsafeBytes(body) }
    func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard let key else { return try body(nil) }
        return try key.withUnsafeBytes { try body($0) }
    }
}

/// The stages without a broker: the simulator's traffic through the route stage, the repartition
/// records it produces, and the detect stage, or the detect stage alone on keyed input, must make
/// exactly the batch oracle's final alerts; and a detect stage restored from a commit point and
/// replayed from its offsets must lose and invent nothing.
@Suite struct StageTests {
    static let input = "cloudtrail"
    static let repartition = "tokentrail.repartition"
    static let quiet = Logger(label: "stages") { _ in SwiftLogNoOpLogHandler() }

    static func configuration(keyed: Bool) -> PipelineConfiguration {
        var c = PipelineConfiguration(inputTopics: [input], inputKeyed: keyed)
        c.repartitionTopic = repartition
        return c
    }

    static func traffic(seed: UInt64, keyed: Bool, count: Int = 3_000) throws -> (records: [InMemoryRecord], expected: [ExpectedAlert], partitions: Int) {
        var c = SimulationConfiguration()
        c.seed = seed
        c.eventCount = count
        c.attackCount = 8
        c.keyed = keyed
        let generator = try TrafficGenerator(c)
        var offsets = [Int64](repeating: 0, count: c.partitions)
        var records: [InMemoryRecord] = []
        for e in generator {
            records.append(InMemoryRecord(topic: input, partition: Int32(e.partition), offset: offsets[e.partition],
                                          timestampMilliseconds: nil, key: nil, value: e.json))
            offsets[e.partition] += 1
        }
        return (records, generator.expectedAlerts(), c.partitions)
    }

    /// Final alerts as the oracle writes them, one per window (a replay may repeat one).
    static func finals(_ output: StageOutput) throws -> Set<ExpectedAlert> {
        var finals = Set<ExpectedAlert>()
        for r in output.records where r.record.topic == output.outputTopic && r.record.header(OutputRecords.Header.status) == "final" {
            let alert = try #require(try JSONSerialization.jsonObject(with: Data(r.record.value)) as? [String: Any])
            let arn = try #require((alert["principal"] as? [String: Any])?["arn"] as? String)
            let start = try #require((alert["window"] as? [String: Any])?["start"] as? String)
            let addresses = try #require((alert["source_addresses"] as? [String: Any])?["values"] as? [String])
            finals.insert(ExpectedAlert(principalArn: arn, windowStart: try #require(RFC3339.parse(start)), sourceAddresses: addresses))
        }
        return finals
    }

    /// The event time of the newest record so far stands in for the wall clock: the traffic is in the past.
    static func clock(_ r: InMemoryRecord, _ newest: inout EventTime) -> EventTime {
        if let t = CloudTrailDecoder().decode(r.value).events.first?.eventTime, t > newest { newest = t }
        return newest
    }

    @Test(arguments: [3, 11])
    func keyedInputThroughTheDetectStageMakesTheOraclesFinals(seed: UInt64) throws {
        let (records, expected, partitions) = try Self.traffic(seed: seed, keyed: true)
        let configuration = Self.configuration(keyed: true)
        let intake = EventIntake(configuration: configuration, rule: DetectionRule(configuration.detector.rule))
        var output = StageOutput(configuration: configuration, logger: Self.quiet)
        var detect = DetectStage(configuration: configuration, mode: .boundedOutOfOrderness,
                                 inputPartitions: InputPartitions([Self.input], counts: [Self.input: partitions]))
        for p in 0..<Int32(partitions) { detect.assign(KafkaTopicPartition(Self.input, p), checkpoint: nil) }
        var newest = EventTime(millisecondsSinceEpoch: 0)
        for r in records {
            detect.input(r, r.topicPartition, now: Self.clock(r, &newest), intake: intake, output: &output)
        }
        Self.drain(&detect, partitions: (0..<Int32(partitions)).map { KafkaTopicPartition(Self.input, $0) }, newest: newest, output: &output)
        #expect(try Self.finals(output) == Set(expected))
        #expect(!expected.isEmpty)
    }

    /// End of input: every partition at its end, then the wall clock well past the idle timeout.
    static func drain(_ detect: inout DetectStage, partitions: [KafkaTopicPartition], newest: EventTime, output: inout StageOutput) {
        for tp in partitions { _ = detect.endOfPartition(tp, now: newest) }
        detect.tick(now: EventTime(millisecondsSinceEpoch: newest.millisecondsSinceEpoch + 3_600_000), output: &output)
        detect.tick(now: EventTime(millisecondsSinceEpoch: newest.millisecondsSinceEpoch + 7_200_000), output: &output)
    }

    @Test(arguments: [5, 13])
    func unkeyedInputThroughRouteRepartitionAndDetectMakesTheOraclesFinals(seed: UInt64) throws {
        let (records, expected, partitions) = try Self.traffic(seed: seed, keyed: false)
        let configuration = Self.configuration(keyed: false)
        let repartitionPartitions = 3
        let intake = EventIntake(configuration: configuration, rule: DetectionRule(configuration.detector.rule))
        var routed = StageOutput(configuration: configuration, logger: Self.quiet)
        var output = StageOutput(configuration: configuration, logger: Self.quiet)
        var route = RouteStage(repartitionTopic: Self.repartition, repartitionPartitions: repartitionPartitions, detector: configuration.detector)
        var detect = DetectStage(configuration: configuration, mode: .external,
                                 inputPartitions: InputPartitions([Self.input], counts: [Self.input: partitions]))
        let inputs = (0..<Int32(partitions)).map { KafkaTopicPartition(Self.input, $0) }
        let repartitioned = (0..<Int32(repartitionPartitions)).map { KafkaTopicPartition(Self.repartition, $0) }
        for tp in inputs { route.assign(tp, watermark: nil) }
        for tp in repartitioned { detect.assign(tp, checkpoint: nil) }
        var log = [[InMemoryRecord]](repeating: [], count: repartitionPartitions)
        var newest = EventTime(millisecondsSinceEpoch: 0)
        // The repartition topic: the route stage's records appended per partition, then read in order.
        func deliver() {
            for r in routed.records {
                let p = Int(try! #require(r.partition))
                let record = InMemoryRecord(topic: Self.repartition, partition: Int32(p), offset: Int64(log[p].count),
                                            timestampMilliseconds: r.timestampMilliseconds, key: r.record.key, value: r.record.value)
                log[p].append(record)
                detect.repartition(record, record.topicPartition, now: newest, output: &output, partitionCounts: { nil })
            }
            routed.records.removeAll()
        }
        for (i, r) in records.enumerated() {
            route.route(r, r.topicPartition, now: Self.clock(r, &newest), intake: intake, output: &routed)
            if i % 250 == 249 {
                route.broadcastMarkers(now: newest, output: &routed)
                deliver()
            }
        }
        // The end: input partitions at their end, then markers an hour later (idle) on both sides.
        for tp in inputs { _ = route.endOfPartition(tp, now: newest) }
        newest = EventTime(millisecondsSinceEpoch: newest.millisecondsSinceEpoch + 3_600_000)
        route.broadcastMarkers(now: newest, output: &routed)
        deliver()
        Self.drain(&detect, partitions: repartitioned, newest: newest, output: &output)
        #expect(output.counters.observationsProcessed == routed.counters.observationsRouted)
        #expect(routed.counters.markersSent > 0)
        let finals = try Self.finals(output)
        #expect(finals == Set(expected), "missing \(Set(expected).subtracting(finals)), extra \(finals.subtracting(expected)), late \(output.counters.eventsLate)")
        #expect(!expected.isEmpty)
    }

    /// After an upgrade, the repartition topic holds observations the previous build wrote (binary
    /// version 1 or 2, no session context) before those this build writes (version 3); a detect
    /// stage restored from a checkpoint of the previous build (the layout is unchanged) replays
    /// both. It makes the oracle's finals, and the windows fed by new records carry the issuer.
    @Test func aRestoreReplaysRepartitionRecordsOfThePreviousBuild() throws {
        let (records, expected, partitions) = try Self.traffic(seed: 7, keyed: false)
        let configuration = Self.configuration(keyed: false)
        let intake = EventIntake(configuration: configuration, rule: DetectionRule(configuration.detector.rule))
        var routed = StageOutput(configuration: configuration, logger: Self.quiet)
        var route = RouteStage(repartitionTopic: Self.repartition, repartitionPartitions: 1, detector: configuration.detector)
        let inputs = (0..<Int32(partitions)).map { KafkaTopicPartition(Self.input, $0) }
        let tp = KafkaTopicPartition(Self.repartition, 0)
        for input in inputs { route.assign(input, watermark: nil) }
        var newest = EventTime(millisecondsSinceEpoch: 0)
        for (i, r) in records.enumerated() {
            route.route(r, r.topicPartition, now: Self.clock(r, &newest), intake: intake, output: &routed)
            if i % 250 == 249 { route.broadcastMarkers(now: newest, output: &routed) }
        }
        for input in inputs { _ = route.endOfPartition(input, now: newest) }
        let end = EventTime(millisecondsSinceEpoch: newest.millisecondsSinceEpoch + 3_600_000)
        route.broadcastMarkers(now: end, output: &routed)
        // The first half of the log as the previous build wrote it: the same observations without session context.
        let half = routed.records.count / 2
        var oldRecords = 0
        let log: [InMemoryRecord] = routed.records.enumerated().map { i, r in
            var value = r.record.value
            if i < half, value.first == ObservationBatch.magic {
                var observations: [Observation] = []
                try! value.withUnsafeBytes { try ObservationBatch.decode($0, into: &observations) }
                var batch = ObservationBatch()
                for var o in observations {
                    o.session = SessionFacts()
                    batch.append(o)
                    #expect(o.encode()[1] < 3)
                    oldRecords += 1
                }
                value = batch.bytes
            }
            return InMemoryRecord(topic: Self.repartition, partition: 0, offset: Int64(i),
                                  timestampMilliseconds: r.timestampMilliseconds, key: r.record.key, value: value)
        }
        #expect(oldRecords > 0)
        func stage() -> DetectStage {
            DetectStage(configuration: configuration, mode: .external,
                        inputPartitions: InputPartitions([Self.input], counts: [Self.input: partitions]))
        }
        var before = StageOutput(configuration: configuration, logger: Self.quiet)
        var after = StageOutput(configuration: configuration, logger: Self.quiet)
        var first = stage()
        first.assign(tp, checkpoint: nil)
        for r in log[..<half] { first.repartition(r, tp, now: newest, output: &before, partitionCounts: { nil }) }
        let point = try #require(first.commitEntries(group: configuration.groupID).first)
        // Stored and read back as the checkpoint topic holds it.
        let stored = try #require(PartitionCheckpoint.decode(point.checkpoint.encoded()))
        #expect(stored.problem == nil && stored.version == 1)
        var second = stage()
        second.assign(tp, checkpoint: stored)
        for r in log where r.offset >= point.offset.offset.rawValue {
            second.repartition(r, tp, now: newest, output: &after, partitionCounts: { nil })
        }
        Self.drain(&second, partitions: [tp], newest: end, output: &after)
        #expect(try Self.finals(before).union(Self.finals(after)) == Set(expected))
        let issuers = after.records.compactMap { r -> String? in
            guard r.record.topic == after.outputTopic,
                  let alert = try? JSONSerialization.jsonObject(with: Data(r.record.value)) as? [String: Any] else { return nil }
            return (alert["session"] as? [String: Any])?["issuer_arn"] as? String
        }
        #expect(!issuers.isEmpty, "alerts of windows fed by version 3 records name the issuer")
    }

    /// A crash at a commit point: a new detect stage restored from the checkpoints replays each
    /// partition from its committed offset. Together the two make every final alert, nothing else,
    /// and an alert both make is the same (alert id and revision) with the same content.
    @Test(arguments: [(UInt64(3), 700), (UInt64(11), 1_900), (UInt64(17), 2_600)])
    func aDetectStageRestoredFromACommitPointLosesAndInventsNothing(seed: UInt64, cut: Int) throws {
        let (records, expected, partitions) = try Self.traffic(seed: seed, keyed: true)
        let configuration = Self.configuration(keyed: true)
        let owned = (0..<Int32(partitions)).map { KafkaTopicPartition(Self.input, $0) }
        func stage() -> DetectStage {
            DetectStage(configuration: configuration, mode: .boundedOutOfOrderness,
                        inputPartitions: InputPartitions([Self.input], counts: [Self.input: partitions]))
        }
        let intake = EventIntake(configuration: configuration, rule: DetectionRule(configuration.detector.rule))
        var before = StageOutput(configuration: configuration, logger: Self.quiet)
        var after = StageOutput(configuration: configuration, logger: Self.quiet)
        var first = stage()
        for tp in owned { first.assign(tp, checkpoint: nil) }
        var newest = EventTime(millisecondsSinceEpoch: 0)
        for r in records[..<cut] {
            first.input(r, r.topicPartition, now: Self.clock(r, &newest), intake: intake, output: &before)
        }
        let point = first.commitEntries(group: configuration.groupID)
        #expect(point.count == partitions)
        var second = stage()
        var starts: [KafkaTopicPartition: Int64] = [:]
        for (offset, checkpoint) in point {
            second.assign(offset.topicPartition, checkpoint: checkpoint)
            starts[offset.topicPartition] = offset.offset.rawValue
        }
        var replayed = 0
        for r in records where r.offset >= starts[r.topicPartition]! {
            second.input(r, r.topicPartition, now: Self.clock(r, &newest), intake: intake, output: &after)
            replayed += 1
        }
        Self.drain(&second, partitions: owned, newest: newest, output: &after)
        #expect(replayed > records.count - cut, "the replay starts before the cut: windows were open")
        #expect(try Self.finals(before).union(Self.finals(after)) == Set(expected))
        // Repeats are the same alert: same id and revision, same content but for when it was made.
        var seen: [String: NSDictionary] = [:]
        for r in before.records + after.records where r.record.topic == before.outputTopic {
            let id = "\(r.record.header(OutputRecords.Header.alertID)!)#\(r.record.header(OutputRecords.Header.revision)!)"
            var alert = try #require(try JSONSerialization.jsonObject(with: Data(r.record.value)) as? [String: Any])
            alert = withoutDetectionTime(alert)
            let content = alert as NSDictionary
            if let earlier = seen[id] { #expect(earlier == content, "\(id) repeated with other content") } else { seen[id] = content }
        }
    }
}
