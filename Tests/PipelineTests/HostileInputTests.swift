import Foundation
import KafkaClient
import KafkaTestSupport
import Synchronization
import Testing

/// What a producer on the input topic (or whoever holds a stolen token) can send, against the built
/// binary and the broker: nothing may switch detection off, stop the process or lose an alert.
@Suite(.ownThreads, .enabled(if: TestBroker.isEnabled), .timeLimit(.minutes(6)))
struct HostileInputTests {
    /// 2099-01-01T00:00:00Z in milliseconds.
    static let year2099: Int64 = 4_070_908_800_000

    @Test func eventsDatedInTheFutureAreDeadLetteredAndDetectionGoesOn() throws {
        let s = try Scenario(bootstrap: try TestBroker.require())
        // A well-formed, matching event at the head of every partition, dated far ahead of the wall clock.
        let times = ["2099-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2099-01-01T00:00:00Z", "2030-06-01T00:00:00Z"]
        try produceRaw(s.bootstrap, topic: s.input, times.indices.map { p in
            (Int32(p), nil, Array(cloudTrailEvent(arn: "arn:aws:sts::111122223333:assumed-role/app/future\(p)", key: "ASIAFUTURE\(p)",
                                                  ip: "198.51.100.\(p + 1)", time: times[p]).utf8))
        })
        let expected = try s.simulate(["--count", "20000", "--attacks", "20", "--partitions", "4", "--seed", "11"])
        let (got, reader, log) = try s.detectUntilFinals("future", covering: expected, timeout: .seconds(180))
        #expect(got == expected, "\(diff(got, expected))\n\(log.suffix(1500))")
        #expect(!reader.alerts.contains { $0.principal.contains("/future") }, "no window opened in the future")
        let dead = try readTopic(s.bootstrap, "\(s.group).dlq", for: .seconds(5))
        #expect(dead.count == 4, "dead-lettered \(dead.count)")
        #expect(dead.allSatisfy { $0.header("tokentrail.error")?.stringValue == "event_time_in_future" })
    }

    /// Matching events dated far in the past (two addresses in 1970, and year 1), on every partition
    /// behind the traffic: late (year 1: out of range), counted, and nothing else: no alert for them.
    @Test func eventsDatedFarInThePastAreLateAndChangeNothing() throws {
        let s = try Scenario(bootstrap: try TestBroker.require())
        let expected = try s.simulate(["--count", "5000", "--attacks", "10", "--partitions", "4", "--seed", "14"])
        let tt = try s.start("past")
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        let got = try s.awaitFinals(reader, covering: expected, timeout: .seconds(120))
        let times = ["1970-01-01T00:00:00Z", "1970-01-01T00:01:00Z", "0001-01-01T00:00:00Z"]
        try produceRaw(s.bootstrap, topic: s.input, (0..<4).flatMap { p in
            times.indices.map { i in
                (Int32(p), nil, Array(cloudTrailEvent(arn: "arn:aws:sts::111122223333:assumed-role/app/past\(p)", key: "ASIAPAST\(p)",
                                                      ip: "198.51.100.\(10 * p + i + 1)", time: times[i]).utf8))
            }
        })
        // A moment to read them (the 1970 pair would make an alert if it were not late).
        try reader.read(until: .now + .seconds(8)) { _ in false }
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        #expect(got == expected, "\(diff(got, expected))\n\(tt.log.suffix(1500))")
        #expect(!reader.alerts.contains { $0.principal.contains("/past") })
        let late = tt.log.firstMatch(of: /eventsLate: (\d+)/).flatMap { Int($0.1) } ?? 0
        let outOfRange = tt.log.firstMatch(of: /event_time_out_of_range\W+(\d+)/).flatMap { Int($0.1) } ?? 0
        #expect(late == 8 && outOfRange == 4, "late \(late), out of range \(outOfRange)")
    }

    @Test func watermarksFromTheFutureAndUnknownCheckpointVersionsAreRefused() throws {
        let s = try Scenario(bootstrap: try TestBroker.require())
        // What an earlier, poisoned run (or a hostile producer) left: checkpoints and upstream markers dated 2099.
        let checkpoints = "\(s.group).checkpoints", repartition = "\(s.group).repartition"
        try TestBroker.createTopic(s.bootstrap, checkpoints, partitions: 4)
        try TestBroker.createTopic(s.bootstrap, repartition, partitions: 4)
        // Partition 3's newest checkpoint has a layout this build does not know (version 3); partition
        // 2's says its next offset is below its safe offset (impossible).
        try produceRaw(s.bootstrap, topic: checkpoints, (0..<4).map { p in
            (Int32(p), "\(s.group)|\(s.input)|\(p)",
             Array(#"{"version":\#(p == 3 ? 3 : 1),"group":"\#(s.group)","topic":"\#(s.input)","partition":\#(p),"offset":\#(p == 2 ? 5 : 0),"next":\#(p == 2 ? 3 : 0),"watermark":\#(Self.year2099)}"#.utf8))
        })
        var markers: [(partition: Int32?, key: String?, value: [UInt8])] = []
        for r in 0..<4 {
            for p in 0..<4 {
                markers.append((Int32(r), nil, Array(#"{"topic":"\#(s.input)","partition":\#(p),"watermark":\#(Self.year2099),"idle":false,"idleMilliseconds":0,"wallWatermark":\#(Self.year2099)}"#.utf8)))
            }
        }
        try produceRaw(s.bootstrap, topic: repartition, markers)
        let expected = try s.simulate(["--count", "5000", "--attacks", "10", "--partitions", "4", "--seed", "13"])
        let (got, _, log) = try s.detectUntilFinals("future-state", covering: expected, timeout: .seconds(120))
        #expect(got == expected, "\(diff(got, expected))\n\(log.suffix(1500))")
        #expect(log.contains("checkpoint watermark beyond time.max_future_skew refused"))
        #expect(log.contains("watermark marker beyond time.max_future_skew refused"))
        #expect(log.contains("newest checkpoint unusable") && log.contains("version 3, this build reads 1 to 2"))
        #expect(log.contains("next offset 3 below offset 5"), "an impossible checkpoint is reported, not passed over")
    }

    @Test func aPartitionThatReceivesOnlyGarbageDoesNotHoldBackFinalAlerts() throws {
        let s = try Scenario(bootstrap: try TestBroker.require(), partitions: 5)
        let tt = try s.start("garbage")
        // Partition 4 gets nothing but undecodable records, ten a second, for the whole test.
        let stop = Mutex(false)
        let bootstrap = s.bootstrap, topic = s.input
        let garbage = Thread {
            guard let producer = try? KafkaProducer(configuration: KafkaProducerConfiguration(common: KafkaConfiguration(bootstrapServers: bootstrap)),
                                                    logger: TestBroker.logger) else { return }
            var i = 0
            while !stop.withLock({ $0 }) {
                try? producer.send(topic: topic, partition: 4, key: nil, value: Array("not json \(i)".utf8))
                i += 1
                Thread.sleep(forTimeInterval: 0.1)
            }
            try? producer.close(timeout: .seconds(10))
        }
        garbage.start()
        defer { stop.withLock { $0 = true } }
        let expected = try s.simulate(["--count", "5000", "--attacks", "10", "--partitions", "4", "--seed", "12"])
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        // idle_timeout is 3 s here; a partition that never yielded an event counts after ten of them.
        let got = try s.awaitFinals(reader, covering: expected, timeout: .seconds(150))
        stop.withLock { $0 = true }
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        #expect(got == expected, "\(diff(got, expected))\n\(tt.log.suffix(1500))")
    }

    @Test(arguments: [false, true])
    func userAgentsOfSixHundredKilobytesStillMakeAnAlert(keyed: Bool) throws {
        let s = try Scenario(bootstrap: try TestBroker.require(), partitions: 1)
        let arn = "arn:aws:sts::111122223333:assumed-role/app/huge"
        let agents = [String(repeating: "A", count: 600_000), String(repeating: "é", count: 300_000)]
        try produceRaw(s.bootstrap, topic: s.input, agents.indices.map { i in
            (0, keyed ? arn : nil, Array(cloudTrailEvent(arn: arn, key: "ASIAHUGE", ip: "203.0.113.\(i + 1)",
                                                        time: "2026-03-02T08:0\(i + 1):00Z", userAgent: agents[i]).utf8))
        })
        let tt = try s.start("huge", keyed ? ["--input-keyed"] : [])
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        try reader.read(until: .now + .seconds(90)) { alerts in alerts.contains { $0.status == "final" } }
        #expect(tt.isRunning, "the process must not stop: \(tt.log.suffix(1500))")
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        let final = try #require(reader.finals.first, "no final alert\n\(tt.log.suffix(1500))")
        #expect(final.principal == arn)
        #expect(final.addresses == ["203.0.113.1", "203.0.113.2"])
        let values = final.json["user_agents"] as? [String] ?? []
        #expect(values.count == 2, "user agents: \(values.map(\.count))")
        #expect(values.allSatisfy { $0.utf8.count <= 2_048 && $0.hasSuffix("…") })
        #expect(final.raw.utf8.count < 100_000)
    }

    /// A 600 KB value in every field an alert copies from its events (one principal per field, two
    /// addresses each): every alert is made, every string in it at most 2,048 bytes, ending in `…`
    /// where it was cut, each alert well below a broker's 1 MB limit.
    @Test func sixHundredKilobytesInEveryFieldAnAlertCopiesIsCut() throws {
        let s = try Scenario(bootstrap: try TestBroker.require(), partitions: 1)
        let huge = String(repeating: "Z", count: 600_000)
        let fields = ["arn", "accessKeyId", "eventSource", "eventName", "awsRegion", "accountId", "eventID"]
        var records: [(partition: Int32?, key: String?, value: [UInt8])] = []
        for (f, field) in fields.enumerated() {
            let arn = "arn:aws:sts::111122223333:assumed-role/app/\(field)" + (field == "arn" ? huge : "")
            for i in 0..<2 {
                var event = cloudTrailEvent(arn: arn, key: "ASIAFIELD\(f)" + (field == "accessKeyId" ? huge : ""),
                                            ip: "203.0.113.\(10 * f + i + 1)", time: "2026-03-02T08:0\(i + 1):00Z",
                                            id: field == "eventID" ? "\(i)" + huge : UUID().uuidString,
                                            eventSource: field == "eventSource" ? huge + "\(i)" : "s3.amazonaws.com")
                switch field {
                case "eventName": event = event.replacingOccurrences(of: #""eventName":"ListBuckets""#, with: #""eventName":"\#(huge)\#(i)""#)
                case "awsRegion": event = event.replacingOccurrences(of: #""awsRegion":"us-east-1""#, with: #""awsRegion":"\#(huge)\#(i)""#)
                case "accountId": event = event.replacingOccurrences(of: #""accountId":"111122223333","accessKeyId""#, with: #""accountId":"\#(huge)","accessKeyId""#)
                default: break
                }
                records.append((0, nil, Array(event.utf8)))
            }
        }
        try produceRaw(s.bootstrap, topic: s.input, records)
        let tt = try s.start("fields")
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        try reader.read(until: .now + .seconds(120)) { alerts in Set(alerts.filter { $0.status == "final" }.map(\.id)).count == fields.count }
        #expect(tt.isRunning, "the process must not stop: \(tt.log.suffix(1500))")
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        #expect(Set(reader.finals.map(\.id)).count == fields.count, "finals: \(reader.finals.map { $0.principal.prefix(60) })\n\(tt.log.suffix(1500))")
        for a in reader.alerts {
            #expect(a.raw.utf8.count < 100_000)
            let long = Self.strings(in: a.json).filter { $0.utf8.count > 2_048 || ($0.utf8.count > 1_000 && !$0.hasSuffix("…")) }
            #expect(long.isEmpty, "\(long.map { "\($0.prefix(40))… (\($0.utf8.count) bytes)" })")
            #expect(a.addresses.count == 2)
        }
        let cutArn = reader.finals.map(\.principal).filter { $0.hasPrefix("arn:aws:sts::111122223333:assumed-role/app/arnZZZ") }
        #expect(cutArn.count == 1 && cutArn.allSatisfy { $0.hasSuffix("…") })
    }

    /// Every string in a JSON value, however deep.
    static func strings(in value: Any) -> [String] {
        switch value {
        case let s as String: [s]
        case let a as [Any]: a.flatMap { strings(in: $0) }
        case let d as [String: Any]: d.values.flatMap { strings(in: $0) }
        default: []
        }
    }

    @Test func aBatchOfTwoHundredThousandBadMembersMakesOneDeadLetter() throws {
        let s = try Scenario(bootstrap: try TestBroker.require(), partitions: 1)
        let arn = "arn:aws:sts::111122223333:assumed-role/app/after-batch"
        let batch = "{\"Records\":[" + Array(repeating: "{}", count: 200_000).joined(separator: ",") + "]}"
        try produceRaw(s.bootstrap, topic: s.input, [(0, nil, Array(batch.utf8))] + (1...2).map { i in
            (0, nil, Array(cloudTrailEvent(arn: arn, key: "ASIABATCH", ip: "203.0.113.\(i)", time: "2026-03-02T08:0\(i):00Z").utf8))
        })
        let tt = try s.start("batch")
        let reader = try AlertReader(bootstrap: s.bootstrap, topic: s.output)
        // The events behind the batch are read: the partition is not blocked.
        try reader.read(until: .now + .seconds(90)) { alerts in alerts.contains { $0.status == "final" } }
        #expect(reader.finals.map(\.principal) == [arn], "\(tt.log.suffix(1500))")
        let dead = try readTopic(s.bootstrap, "\(s.group).dlq", for: .seconds(5))
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        #expect(dead.count == 1, "dead-lettered \(dead.count)")
        let d = try #require(dead.first)
        #expect(d.header("tokentrail.errors")?.stringValue == "missing_event_time=200000")
        #expect(d.header("tokentrail.error_count")?.stringValue == "200000")
        #expect(d.header("tokentrail.record_indexes")?.stringValue == (0..<20).map(String.init).joined(separator: ","))
        // One summary line per reason and interval, not a line per member.
        #expect(tt.log.components(separatedBy: "dead-lettered a record").count - 1 <= 2)
    }
}
