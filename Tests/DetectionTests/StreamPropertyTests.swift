import CloudTrail
import Testing

@testable import Detection

/// Generated CloudTrail-like streams: a few principals, each mostly at home, some with attacker
/// addresses, events near window boundaries, IPv4 and IPv6, delivered with bounded disorder.
struct GeneratedStream {
    var observations: [Observation]

    init(seed: UInt64, count: Int, principals: Int = 6, disorder: Int64 = 5 * minute) {
        var random = SeededRandom(seed: seed)
        let keys = (0..<principals).map { "arn:aws:sts::1234567890\($0 % 3):assumed-role/app/p\($0)" }
        let homes: [SourceAddress] = (0..<principals).map { i in
            i % 3 == 2 ? .ipv6(high: 0x2001_0db8_0000_0000 | UInt64(i), low: 1) : .ipv4(0xC000_0200 | UInt32(i))
        }
        let attackers: [SourceAddress] = [.ipv4(0xCB00_7101), .ipv4(0xCB00_7102), .ipv6(high: 0x2001_0db8_ffff_0000, low: 9)]
        var timed: [(arrival: Int64, index: Int, observation: Observation)] = []
        for index in 0..<count {
            let p = Int.random(in: 0..<principals, using: &random)
            var t = baseTime - 10 * minute + Int64.random(in: 0..<(3 * 60 * minute), using: &random)
            if Int.random(in: 0..<8, using: &random) == 0 {
                // Near a boundary: a few seconds either side.
                let boundary = (t / (30 * minute)) * 30 * minute
                t = boundary + Int64.random(in: -3000...3000, using: &random)
            }
            let address = Int.random(in: 0..<10, using: &random) == 0
                ? attackers.randomElement(using: &random)! : homes[p]
            let observation = Observation(
                groupingKey: keys[p], principalArn: keys[p], principalType: p % 2 == 0 ? "AssumedRole" : "IAMUser",
                accountId: "1234567890\(p % 3)", address: address,
                accessKeyId: "ASIA\(p)KEY\(Int.random(in: 0..<2, using: &random))",
                userAgent: ["aws-cli/2.15", "Boto3/1.34", "aws-sdk-go/1.50"].randomElement(using: &random)!,
                eventSource: ["s3.amazonaws.com", "sts.amazonaws.com", "iam.amazonaws.com"].randomElement(using: &random)!,
                eventName: ["GetObject", "GetCallerIdentity", "ListRoles", "PutObject"].randomElement(using: &random)!,
                awsRegion: ["us-east-1", "eu-west-1"].randomElement(using: &random)!,
                eventTime: at(t), eventID: "e\(String(random.next() % 1_000_000_000, radix: 16))",
                origin: EventOrigin(topic: "cloudtrail", partition: Int32(index % 3), offset: Int64(index))
            )
            timed.append((t + Int64.random(in: 0..<disorder, using: &random), index, observation))
        }
        observations = timed.sorted { ($0.arrival, $0.index) < ($1.arrival, $1.index) }.map(\.observation)
    }
}

/// What a `final` alert says about its window, minus what depends on emission (revision, detected_at).
struct FinalContent: Hashable, CustomStringConvertible {
    var id: String
    var key: String
    var windowStart: Int64
    var addresses: [String]
    var addressCount: Int
    var eventCount: Int
    var firstSeen: Int64
    var lastSeen: Int64
    var lists: [[String]]
    var listCounts: [Int]
    var eventIDs: [String]
    var principal: [String?]

    init(_ a: Alert) {
        id = a.id
        key = a.groupingKey
        windowStart = a.window.start.millisecondsSinceEpoch
        addresses = a.sourceAddresses.values
        addressCount = a.sourceAddresses.count
        eventCount = a.eventCount
        firstSeen = a.firstSeen.millisecondsSinceEpoch
        lastSeen = a.lastSeen.millisecondsSinceEpoch
        let all = [a.accessKeyIds, a.userAgents, a.eventSources, a.eventNames, a.awsRegions]
        lists = all.map(\.values)
        listCounts = all.map(\.count)
        eventIDs = a.evidence.sampleEventIDs
        principal = [a.principal.arn, a.principal.type, a.principal.accountId]
    }

    init(id: String, key: String, windowStart: Int64, addresses: [String], addressCount: Int, eventCount: Int,
         firstSeen: Int64, lastSeen: Int64, lists: [[String]], listCounts: [Int], eventIDs: [String], principal: [String?]) {
        (self.id, self.key, self.windowStart, self.addresses, self.addressCount, self.eventCount) =
            (id, key, windowStart, addresses, addressCount, eventCount)
        (self.firstSeen, self.lastSeen, self.lists, self.listCounts, self.eventIDs, self.principal) =
            (firstSeen, lastSeen, lists, listCounts, eventIDs, principal)
    }

    var description: String { "\(key) @\(windowStart): \(addressCount) \(addresses)" }
    var detail: String { "\(description) events \(eventCount) \(firstSeen)...\(lastSeen) \(lists) \(listCounts) \(eventIDs) \(principal)" }
}

/// The rule computed in one batch: group, count distinct, keep the smallest values. Written from
/// the rule's statement, sharing nothing with the streaming code but the alert id function.
func batchOracle(_ observations: [Observation], _ configuration: DetectorConfiguration) -> Set<FinalContent> {
    let size = configuration.rule.windowSize.milliseconds
    let limits = configuration.evidenceLimits
    var groups: [String: [Observation]] = [:]
    var starts: [String: Int64] = [:]
    for o in observations {
        let t = o.eventTime.millisecondsSinceEpoch
        let start = t - ((t % size) + size) % size
        groups["\(o.groupingKey)|\(start)", default: []].append(o)
        starts["\(o.groupingKey)|\(start)"] = start
    }
    func sortedText(_ values: [String?], limit: Int) -> ([String], Int) {
        let distinct = Set(values.compactMap { $0 })
        return (Array(distinct.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }.prefix(limit)), distinct.count)
    }
    var result: Set<FinalContent> = []
    for (group, events) in groups {
        let addresses = Set(events.map(\.address))
        guard addresses.count >= configuration.rule.threshold else { continue }
        func order(_ a: SourceAddress) -> [UInt64] {
            switch a {
            case .ipv4(let v): [4, 0, UInt64(v)]
            case .ipv6(let h, let l): [6, h, l]
            case .notAnAddress: [0, 0, 0]
            }
        }
        let kept = addresses.sorted { order($0).lexicographicallyPrecedes(order($1)) }.prefix(limits.sourceAddresses)
        let lists = [
            sortedText(events.map(\.accessKeyId), limit: limits.accessKeyIds),
            sortedText(events.map(\.userAgent), limit: limits.userAgents),
            sortedText(events.map(\.eventSource), limit: limits.eventSources),
            sortedText(events.map(\.eventName), limit: limits.eventNames),
            sortedText(events.map(\.awsRegion), limit: limits.awsRegions),
        ]
        let times = events.map(\.eventTime.millisecondsSinceEpoch)
        let first = events[0]
        result.insert(FinalContent(
            id: Alert.id(ruleID: configuration.rule.id, groupingKey: first.groupingKey, windowStart: at(starts[group]!)),
            key: first.groupingKey, windowStart: starts[group]!,
            addresses: kept.map(\.canonicalText), addressCount: addresses.count, eventCount: events.count,
            firstSeen: times.min()!, lastSeen: times.max()!, lists: lists.map(\.0), listCounts: lists.map(\.1),
            eventIDs: sortedText(events.map(\.eventID), limit: limits.sampleEventIDs).0,
            principal: [first.principalArn, first.principalType, first.accountId]
        ))
    }
    return result
}

/// Every id's emissions: revisions 1, 2, ... in order, opens before exactly one final.
func checkRevisionSequences(_ alerts: [Alert], sourceLocation: SourceLocation = #_sourceLocation) {
    var byID: [String: [Alert]] = [:]
    for a in alerts { byID[a.id, default: []].append(a) }
    for (_, emissions) in byID {
        #expect(emissions.map(\.revision) == Array(1...emissions.count), sourceLocation: sourceLocation)
        #expect(emissions.dropLast().allSatisfy { $0.status == .open }, sourceLocation: sourceLocation)
        #expect(emissions.last?.status == .final, sourceLocation: sourceLocation)
    }
}

@Suite("Property: streaming equals batch; restore equals uninterrupted")
struct StreamPropertyTests {
    static let wallBase: Int64 = baseTime + 48 * 60 * minute

    static func run(_ observations: [Observation], _ configuration: DetectorConfiguration, partitions: Int32 = 1) -> Harness {
        var h = Harness(configuration)
        var offsets: [Int32: Int64] = [:]
        for o in observations {
            let partition = Int32(o.groupingKey.utf8.reduce(0) { ($0 &* 31 &+ Int($1)) & 0xFFFF }) % partitions
            let offset = offsets[partition, default: 0]
            offsets[partition] = offset + 1
            h.process(o, partition: partition, offset: offset, now: at(wallBase + offset))
        }
        for partition in 0..<partitions {
            h.detector.setCaughtUp(partition: partition, true, now: at(wallBase + 1_000_000))
        }
        h.tick(now: at(wallBase + 1_000_000 + 30_000))
        return h
    }

    @Test(arguments: 0..<16)
    func finalAlertsEqualTheBatchOracle(seed: Int) {
        var configuration = DetectorConfiguration()
        configuration.evidenceLimits.sourceAddresses = 2 + seed % 3
        configuration.evidenceLimits.sampleEventIDs = 3
        configuration.evidenceLimits.eventNames = 2
        configuration.emitOpenAlerts = seed % 4 != 3
        configuration.updateInterval = .seconds(Int64(seed % 3) * 60)
        let stream = GeneratedStream(seed: UInt64(seed), count: 300 + seed * 10)
        let h = Self.run(stream.observations, configuration, partitions: Int32(1 + seed % 3))
        let expected = batchOracle(stream.observations, configuration)
        #expect(!expected.isEmpty, "the generator should produce attacks")
        #expect(h.finals.count == expected.count, "one final per alerting window")
        let actual = Set(h.finals.map(FinalContent.init))
        #expect(actual == expected, "streaming only: \(actual.subtracting(expected).prefix(2).map(\.detail)); batch only: \(expected.subtracting(actual).prefix(2).map(\.detail))")
        #expect(h.outcomes.allSatisfy { $0 == .accepted }, "bounded disorder: nothing is late")
        checkRevisionSequences(h.alerts)
        if !configuration.emitOpenAlerts { #expect(h.alerts.allSatisfy { $0.status == .final && $0.revision == 1 }) }
    }

    @Test(arguments: 0..<10)
    func cutRestoreAndReplayEqualsTheUninterruptedRun(seed: Int) throws {
        var random = SeededRandom(seed: UInt64(1000 + seed))
        let stream = GeneratedStream(seed: UInt64(500 + seed), count: 400).observations
        let configuration = DetectorConfiguration()
        let whole = Self.run(stream, configuration)

        for _ in 0..<5 {
            // Checkpoint after `checkpointAt` records, crash after `crashAt` (alerts in between were sent).
            let checkpointAt = Int.random(in: 0...stream.count, using: &random)
            let crashAt = Int.random(in: checkpointAt...stream.count, using: &random)
            var before = Harness(configuration)
            var checkpoint: DetectorCheckpoint?
            var sentBeforeCheckpoint = 0
            for offset in 0..<crashAt {
                if offset == checkpointAt { checkpoint = before.detector.checkpoint(partition: 0); sentBeforeCheckpoint = before.alerts.count }
                before.process(stream[offset], offset: Int64(offset), now: at(Self.wallBase + Int64(offset)))
            }
            if checkpointAt == crashAt { checkpoint = before.detector.checkpoint(partition: 0); sentBeforeCheckpoint = before.alerts.count }

            var after = Harness(configuration)
            var start = 0
            if let checkpoint {
                after.detector.restore(partition: 0, from: checkpoint, mode: .boundedOutOfOrderness)
                start = Int(checkpoint.safeOffset)
                #expect(start <= checkpointAt)
            }
            for offset in start..<stream.count {
                after.process(stream[offset], offset: Int64(offset), now: at(Self.wallBase + Int64(offset)))
            }
            after.detector.setCaughtUp(partition: 0, true, now: at(Self.wallBase + 1_000_000))
            after.tick(now: at(Self.wallBase + 1_000_000 + 30_000))

            let emitted = before.alerts + after.alerts
            #expect(Set(emitted.filter { $0.status == .final }.map(\.id)) == Set(whole.finals.map(\.id)),
                    "no final missing, none extra (checkpoint \(checkpointAt), crash \(crashAt))")
            // Exactly once from the checkpoint's point of view: what was sent before it, then what
            // the restored detector sends, is the uninterrupted run's sequence, with nothing repeated.
            let committed = before.alerts.prefix(sentBeforeCheckpoint) + after.alerts
            #expect(committed.map { "\($0.id)#\($0.revision)" } == whole.alerts.map { "\($0.id)#\($0.revision)" },
                    "alerts sent before the checkpoint are not repeated by the replay (checkpoint \(checkpointAt), crash \(crashAt))")
            // Every emission, repeated or not, is identical to the uninterrupted run's for its revision.
            var reference: [String: [UInt8]] = [:]
            for a in whole.alerts { reference["\(a.id)#\(a.revision)"] = Self.contentBytes(a) }
            for a in emitted {
                #expect(reference["\(a.id)#\(a.revision)"] == Self.contentBytes(a),
                        "\(a.status) \(a.revision) of \(a.groupingKey) differs (checkpoint \(checkpointAt), crash \(crashAt))")
            }
        }
    }

    /// The alert JSON with `detected_at` (the only field allowed to differ on a repeat) cleared.
    static func contentBytes(_ alert: Alert) -> [UInt8] {
        var a = alert
        a.detectedAt = at(0)
        return a.json()
    }
}

@Suite("Property: the repartition path (external, in-band watermark markers)")
struct ExternalWatermarkPropertyTests {
    enum Item {
        case record(Observation)
        case marker(EventTime)
    }

    /// A repartition partition as the route stage writes it: records, and after every few records a
    /// marker carrying the upstream watermark (highest event time so far - bound).
    static func repartitioned(_ observations: [Observation], every: Int) -> [Item] {
        var items: [Item] = []
        var highest = Int64.min
        for (i, o) in observations.enumerated() {
            items.append(.record(o))
            highest = max(highest, o.eventTime.millisecondsSinceEpoch)
            if i % every == every - 1 { items.append(.marker(at(highest - 5 * minute))) }
        }
        return items
    }

    static func play(_ items: ArraySlice<Item>, into h: inout Harness) {
        for (offset, item) in zip(items.indices, items) {
            let now = at(StreamPropertyTests.wallBase + Int64(offset))
            switch item {
            case .record(let o): h.process(o, offset: Int64(offset), now: now)
            case .marker(let watermark): h.advance(to: watermark, now: now)
            }
        }
    }

    @Test(arguments: 0..<8)
    func externalModeMatchesTheOracleAndSurvivesRestarts(seed: Int) throws {
        var random = SeededRandom(seed: UInt64(2000 + seed))
        let observations = GeneratedStream(seed: UInt64(700 + seed), count: 300).observations
        let items = Self.repartitioned(observations, every: 1 + seed % 4)
        let configuration = DetectorConfiguration()

        var whole = Harness(configuration)
        whole.detector.assign(partition: 0, mode: .external)
        Self.play(items[...], into: &whole)
        whole.advance(to: at(.max / 2), now: at(StreamPropertyTests.wallBase + 1_000_000))
        #expect(Set(whole.finals.map(FinalContent.init)) == batchOracle(observations, configuration))
        #expect(whole.outcomes.allSatisfy { $0 == .accepted })

        for _ in 0..<4 {
            let checkpointAt = Int.random(in: 0...items.count, using: &random)
            let crashAt = Int.random(in: checkpointAt...items.count, using: &random)
            var before = Harness(configuration)
            before.detector.assign(partition: 0, mode: .external)
            Self.play(items[..<checkpointAt], into: &before)
            let checkpoint = before.detector.checkpoint(partition: 0)
            let sentBeforeCheckpoint = before.alerts.count
            Self.play(items[checkpointAt..<crashAt], into: &before)

            var after = Harness(configuration)
            after.detector.restore(partition: 0, from: checkpoint ?? DetectorCheckpoint(safeOffset: 0, watermark: nil),
                                   mode: .external)
            Self.play(items[Int(checkpoint?.safeOffset ?? 0)...], into: &after)
            after.advance(to: at(.max / 2), now: at(StreamPropertyTests.wallBase + 1_000_000))

            let emitted = before.alerts + after.alerts
            #expect(Set(emitted.filter { $0.status == .final }.map(\.id)) == Set(whole.finals.map(\.id)))
            var reference: [String: [UInt8]] = [:]
            for a in whole.alerts { reference["\(a.id)#\(a.revision)"] = StreamPropertyTests.contentBytes(a) }
            for a in emitted { #expect(reference["\(a.id)#\(a.revision)"] == StreamPropertyTests.contentBytes(a)) }
            let committed = before.alerts.prefix(sentBeforeCheckpoint) + after.alerts
            #expect(committed.map { "\($0.id)#\($0.revision)" } == whole.alerts.map { "\($0.id)#\($0.revision)" },
                    "nothing sent before the checkpoint is sent again (checkpoint \(checkpointAt), crash \(crashAt))")
        }
    }
}
