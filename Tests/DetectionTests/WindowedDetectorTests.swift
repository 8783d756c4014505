import CloudTrail
import Testing

@testable import Detection

@Suite("Windows, watermarks and alerts")
struct WindowedDetectorTests {
    let wall = at(baseTime + 24 * 60 * minute)
    let windowEnd = baseTime + 30 * minute

    func obs(_ seconds: Int64, _ address: String, offset: Int64 = 0, arn: String? = nil,
             userAgent: String = "aws-cli/2.15.0") -> Observation {
        observe(makeEvent(time: baseTime + seconds * 1000, address: ipv4(address),
                          arn: arn ?? "arn:aws:sts::123456789012:assumed-role/deploy/alice", userAgent: userAgent),
                offset: offset)
    }

    /// Feeds observations with offsets 0, 1, ... then closes every window.
    func run(_ observations: [Observation], _ configuration: DetectorConfiguration = DetectorConfiguration()) -> Harness {
        var h = Harness(configuration)
        for (offset, o) in observations.enumerated() { h.process(o, offset: Int64(offset), now: wall) }
        h.advance(to: at(.max / 2), now: wall)
        return h
    }

    /// The state gauge follows what the windows hold: a thousand windows keyed by 200 more bytes each
    /// cost those bytes more (they sit in the bucket's key arena), and every window costs something.
    @Test func estimatedBytesFollowTheKeysTheWindowsHold() {
        func estimate(padding: Int) -> DetectorSummary {
            var detector = WindowedDetector()
            for i in 0..<1_000 {
                let arn = "arn:aws:sts::123456789012:assumed-role/deploy/" + String(repeating: "x", count: padding) + "-\(i)"
                _ = detector.process(obs(60, "192.0.2.1", offset: Int64(i), arn: arn), partition: 0, offset: Int64(i), now: wall)
            }
            return detector.summary()
        }
        let short = estimate(padding: 0), long = estimate(padding: 200)
        #expect(short.windows == 1_000 && long.windows == 1_000)
        #expect(short.estimatedBytes > 1_000 * 64, "slots and index: \(short.estimatedBytes)")
        #expect(long.estimatedBytes - short.estimatedBytes == 1_000 * 200, "the keys' extra bytes, once each")
    }

    @Test func twoAddressesOneSecondEitherSideOfABoundaryDoNotAlert() {
        for order in [[0, 1], [1, 0]] {
            let pair = [obs(30 * 60 - 1, "192.0.2.1"), obs(30 * 60 + 1, "192.0.2.2")]
            #expect(run(order.map { pair[$0] }).alerts.isEmpty)
        }
    }

    @Test func twoAddressesInOneWindowAlertWhateverTheOrder() throws {
        for order in [[0, 1], [1, 0]] {
            let pair = [obs(1, "192.0.2.1"), obs(30 * 60 - 1, "192.0.2.2")]
            let h = run(order.map { pair[$0] })
            #expect(h.alerts.map(\.status) == [.open, .final])
            #expect(h.alerts.map(\.revision) == [1, 2])
            let final = try #require(h.finals.first)
            #expect(final.sourceAddresses == EvidenceList(values: ["192.0.2.1", "192.0.2.2"], count: 2))
            #expect(RFC3339.format(final.window.start) == "2026-03-02T08:00:00Z")
            #expect(RFC3339.format(final.window.end) == "2026-03-02T08:30:00Z")
            #expect(final.eventCount == 2)
            #expect(Set(h.alerts.map(\.id)).count == 1)
        }
    }

    @Test func oneAddressManyTimesDoesNotAlert() {
        #expect(run((0..<50).map { obs(Int64($0) * 30, "192.0.2.1") }).alerts.isEmpty)
    }

    @Test func eventsTheRuleRejectsNeverCount() {
        let rule = DetectionRule()
        let origin = EventOrigin(topic: "cloudtrail", partition: 0, offset: 0)
        let noise: [CloudTrailEvent] = [
            makeEvent(time: baseTime + 1000, address: ipv4("192.0.2.1")),
            CloudTrailEvent(eventTime: at(baseTime + 2000), sourceIPAddress: "ec2.amazonaws.com",
                            userIdentity: UserIdentity(type: "AssumedRole", arn: "arn:aws:sts::123456789012:assumed-role/deploy/alice",
                                                       accessKeyId: "ASIAEXAMPLEKEY000001")),
            makeEvent(time: baseTime + 3000, address: ipv4("192.0.2.3"), userAgent: "Terraform/1.7"),
            makeEvent(time: baseTime + 4000, address: ipv4("192.0.2.4"), accessKeyId: "AKIAEXAMPLE"),
            makeEvent(time: baseTime + 5000, address: ipv4("192.0.2.5"), type: "AWSService"),
        ]
        var configuration = DetectorConfiguration()
        configuration.rule.allowedNetworks = [CIDRBlock(parsing: "192.0.2.6/32")!]
        let allowlisted = makeEvent(time: baseTime + 6000, address: ipv4("192.0.2.6"))
        let kept = (noise + [allowlisted]).compactMap { try? DetectionRule(configuration.rule).evaluate($0, origin: origin).get() }
        #expect(kept.count == 1)
        #expect(run(kept, configuration).alerts.isEmpty)
        // The same events with the rule bypassed would alert: the rule is what keeps them out.
        let bypassed = noise.compactMap { event -> Observation? in
            var e = event
            e.userIdentity.type = "AssumedRole"
            e.userIdentity.accessKeyId = "ASIAEXAMPLEKEY000001"
            e.userAgent = nil
            return try? rule.evaluate(e, origin: origin).get()
        }
        #expect(!run(bypassed).alerts.isEmpty)
    }

    @Test func openRevisionsAreThrottledByTheWindowsOwnEventTime() {
        let h = run([
            obs(60, "192.0.2.1"), obs(61, "192.0.2.2"),   // threshold: open 1 at once
            obs(90, "192.0.2.3"),                         // new address 29 s later: held back
            obs(122, "192.0.2.3"),                        // 61 s after revision 1: pending update goes out
            obs(130, "192.0.2.4"),                        // held back again
            obs(300, "192.0.2.1"),                        // the window's data moved on: revision 3
            obs(400, "192.0.2.2"),                        // no new address since: nothing
        ])
        #expect(h.alerts.map(\.status) == [.open, .open, .open, .final])
        #expect(h.alerts.map(\.revision) == [1, 2, 3, 4])
        #expect(h.alerts.map(\.sourceAddresses.count) == [2, 3, 4, 4])
        #expect(h.alerts.map(\.eventCount) == [2, 4, 6, 7])
    }

    @Test func finalOnly() {
        var configuration = DetectorConfiguration()
        configuration.emitOpenAlerts = false
        let h = run([obs(1, "192.0.2.1"), obs(2, "192.0.2.2"), obs(200, "192.0.2.3")], configuration)
        #expect(h.alerts.map(\.status) == [.final])
        #expect(h.alerts.map(\.revision) == [1])
        #expect(h.alerts.first?.sourceAddresses.count == 3)
    }

    @Test func aThresholdOfOneAlertsOnTheFirstEvent() {
        var configuration = DetectorConfiguration()
        configuration.rule.threshold = 1
        let h = run([obs(1, "192.0.2.1"), obs(2, "192.0.2.1")], configuration)
        #expect(h.alerts.map(\.status) == [.open, .final])
        #expect(h.alerts.last?.eventCount == 2)
    }

    /// At `maxWindows` a new (key, window) is refused and counted; the windows held keep alerting, and
    /// room comes back when windows close.
    @Test func newWindowsAreRefusedAtTheBoundAndHeldOnesStillAlert() {
        var configuration = DetectorConfiguration()
        configuration.maxWindows = 3
        var h = Harness(configuration)
        for i in 0..<4 { h.process(obs(1, "192.0.2.1", arn: "arn:aws:sts::1:assumed-role/r/s\(i)"), offset: Int64(i), now: wall) }
        #expect(h.outcomes == [.accepted, .accepted, .accepted, .refused])
        #expect(h.detector.windowCount == 3)
        #expect(h.detector.statistics(partition: 0)?.refused == 1)
        // A second address for a held principal still makes its alert; the refused one never does.
        h.process(obs(2, "192.0.2.2", arn: "arn:aws:sts::1:assumed-role/r/s0"), offset: 4, now: wall)
        h.process(obs(2, "192.0.2.2", arn: "arn:aws:sts::1:assumed-role/r/s3"), offset: 5, now: wall)
        #expect(h.opens.map(\.principal.arn) == ["arn:aws:sts::1:assumed-role/r/s0"])
        #expect(h.outcomes.suffix(2) == [.accepted, .refused])
        // The window closes and leaves: a new one fits again.
        h.advance(to: at(windowEnd), now: wall)
        #expect(h.finals.map(\.principal.arn) == ["arn:aws:sts::1:assumed-role/r/s0"])
        #expect(h.detector.windowCount == 0)
        h.process(obs(31 * 60, "192.0.2.1", arn: "arn:aws:sts::1:assumed-role/r/s3"), offset: 6, now: wall)
        #expect(h.outcomes.last == .accepted)
        #expect(h.detector.windowCount == 1)
    }

    @Test func windowsFireWhenTheWatermarkReachesTheirEndNotBefore() {
        var h = Harness()
        h.process(obs(1, "192.0.2.1"), offset: 0, now: wall)
        h.process(obs(2, "192.0.2.2"), offset: 1, now: wall)
        // 5 min out-of-orderness: an event at end + 5 min - 1 ms leaves the watermark 1 ms short.
        h.process(observe(makeEvent(time: windowEnd + 5 * minute - 1, address: ipv4("192.0.2.9"))), offset: 2, now: wall)
        #expect(h.finals.isEmpty)
        #expect(h.detector.watermark(partition: 0) == at(windowEnd - 1))
        h.process(observe(makeEvent(time: windowEnd + 5 * minute, address: ipv4("192.0.2.9"))), offset: 3, now: wall)
        #expect(h.finals.count == 1)
    }

    @Test func idlePartitionsAdvanceWithTheWallClockOnlyWhenCaughtUp() {
        var configuration = DetectorConfiguration()
        configuration.idleTimeout = .seconds(30)
        var h = Harness(configuration)
        let now0 = at(windowEnd + 10 * minute)
        h.process(obs(1, "192.0.2.1"), offset: 0, now: now0)
        h.process(obs(2, "192.0.2.2"), offset: 1, now: now0)
        h.tick(now: at(now0.millisecondsSinceEpoch + 3_600_000))
        #expect(h.finals.isEmpty, "not caught up: a lagging consumer must not close windows")
        h.detector.setCaughtUp(partition: 0, true, now: at(now0.millisecondsSinceEpoch + 3_600_000))
        h.tick(now: at(now0.millisecondsSinceEpoch + 3_600_000 + 29_999))
        #expect(h.finals.isEmpty)
        h.tick(now: at(now0.millisecondsSinceEpoch + 3_600_000 + 30_000))
        #expect(h.finals.count == 1)
        #expect(h.finals.first?.detectedAt == at(now0.millisecondsSinceEpoch + 3_600_000 + 30_000))

        // An event resets the idle timer.
        var g = Harness(configuration)
        g.detector.setCaughtUp(partition: 0, true, now: now0)
        g.process(obs(1, "192.0.2.1"), offset: 0, now: now0)
        g.process(obs(2, "192.0.2.2"), offset: 1, now: at(now0.millisecondsSinceEpoch + 20_000))
        g.tick(now: at(now0.millisecondsSinceEpoch + 40_000))
        #expect(g.finals.isEmpty)
        g.tick(now: at(now0.millisecondsSinceEpoch + 50_000))
        #expect(g.finals.count == 1)
    }

    @Test func lateEventsAreCountedAndDropped() {
        var h = Harness()
        h.process(obs(1, "192.0.2.1"), offset: 0, now: wall)
        h.process(observe(makeEvent(time: windowEnd + 6 * minute, address: ipv4("192.0.2.7"))), offset: 1, now: wall)
        h.process(obs(3, "192.0.2.2"), offset: 2, now: wall)
        h.process(obs(4, "192.0.2.3"), offset: 3, now: wall)
        #expect(h.outcomes == [.accepted, .accepted, .late, .late])
        #expect(h.detector.statistics(partition: 0)?.late == 2)
        #expect(h.alerts.isEmpty)
    }

    @Test func allowedLatenessReEmitsTheUpdatedFinal() {
        var configuration = DetectorConfiguration()
        configuration.allowedLateness = .seconds(600)
        var h = Harness(configuration)
        h.process(obs(1, "192.0.2.1"), offset: 0, now: wall)
        h.process(obs(2, "192.0.2.2"), offset: 1, now: wall)
        h.process(observe(makeEvent(time: windowEnd + 5 * minute, address: ipv4("192.0.2.9"))), offset: 2, now: wall)
        #expect(h.alerts.map(\.status) == [.open, .final])
        // Watermark = end: 10 minutes of lateness left. A late address updates the fired window.
        h.process(obs(3, "192.0.2.3"), offset: 3, now: wall)
        #expect(h.alerts.map(\.status) == [.open, .final, .final])
        #expect(h.alerts.last?.revision == 3)
        #expect(h.alerts.last?.sourceAddresses.count == 3)
        #expect(h.detector.checkpoint(partition: 0)?.safeOffset == 0, "a window within lateness still holds state")
        // Watermark past end + lateness: the window is gone, its events late.
        h.process(observe(makeEvent(time: windowEnd + 15 * minute, address: ipv4("192.0.2.9"))), offset: 4, now: wall)
        h.process(obs(4, "192.0.2.4"), offset: 5, now: wall)
        #expect(h.outcomes.last == .late)
        #expect(h.alerts.count == 3)
        #expect(h.detector.checkpoint(partition: 0)?.safeOffset == 2)
    }

    @Test func aRestoreWithinAllowedLatenessRebuildsFiredWindowsSilently() throws {
        var configuration = DetectorConfiguration()
        configuration.allowedLateness = .seconds(600)
        let stream = [
            obs(1, "192.0.2.1"), obs(2, "192.0.2.2"),
            observe(makeEvent(time: windowEnd + 6 * minute, address: ipv4("192.0.2.9"))),   // fires the window
        ]
        var first = Harness(configuration)
        for (i, o) in stream.enumerated() { first.process(o, offset: Int64(i), now: wall) }
        #expect(first.finals.count == 1)
        let checkpoint = try #require(first.detector.checkpoint(partition: 0))
        #expect(checkpoint.safeOffset == 0, "the fired window is still within lateness: its events must replay")

        var second = Harness(configuration)
        second.detector.restore(partition: 0, from: checkpoint, mode: .boundedOutOfOrderness)
        for (i, o) in stream.enumerated() { second.process(o, offset: Int64(i), now: wall) }
        #expect(second.alerts.isEmpty, "replay rebuilds the fired window without re-emitting it")
        second.process(obs(3, "192.0.2.3"), offset: 3, now: wall)
        #expect(second.finals.count == 1)
        #expect(second.finals.first?.sourceAddresses.count == 3)
    }

    @Test func externalWatermarkMode() {
        var h = Harness()
        h.detector.assign(partition: 5, mode: .external)
        h.process(obs(1, "192.0.2.1"), partition: 5, offset: 0, now: wall)
        h.process(obs(2, "192.0.2.2"), partition: 5, offset: 1, now: wall)
        // Far-future events do not move an external watermark.
        h.process(observe(makeEvent(time: windowEnd + 600 * minute, address: ipv4("192.0.2.9"))), partition: 5, offset: 2, now: wall)
        h.detector.setCaughtUp(partition: 5, true, now: wall)
        h.tick(now: at(wall.millisecondsSinceEpoch + 3_600_000))
        #expect(h.finals.isEmpty)
        #expect(h.detector.mode(partition: 5) == .external)
        h.advance(partition: 5, to: at(windowEnd - 1), now: wall)
        #expect(h.finals.isEmpty)
        h.advance(partition: 5, to: at(windowEnd), now: wall)
        #expect(h.finals.count == 1)
        #expect(h.finals.first?.evidence.detectPartition == 5)
        // It never goes back.
        h.advance(partition: 5, to: at(baseTime), now: wall)
        #expect(h.detector.watermark(partition: 5) == at(windowEnd))
    }

    @Test func evidenceIsBoundedAndCountsStayTrue() throws {
        var configuration = DetectorConfiguration()
        configuration.evidenceLimits.sourceAddresses = 5
        configuration.evidenceLimits.userAgents = 3
        configuration.evidenceLimits.sampleEventIDs = 4
        var random = SeededRandom(seed: 3)
        let addresses = (0..<2000).map { _ in UInt32.random(in: 1...UInt32.max, using: &random) }
        var observations: [Observation] = []
        for (i, a) in addresses.enumerated() {
            var o = obs(Int64(i % 1700), "0.0.0.1", userAgent: "agent-\(i % 7)")
            o.address = .ipv4(a)
            o.origin.offset = Int64(i)
            observations.append(o)
        }
        let h = run(observations, configuration)
        let final = try #require(h.finals.first)
        #expect(final.sourceAddresses.count == Set(addresses).count)
        #expect(final.sourceAddresses.values == Set(addresses).sorted().prefix(5).map { SourceAddress.ipv4($0).canonicalText })
        #expect(final.userAgents.count == 7)
        #expect(final.userAgents.values == ["agent-0", "agent-1", "agent-2"])
        #expect(final.evidence.sampleEventIDs.count == 4)
        #expect(final.eventCount == 2000)
        #expect(final.evidence.inputRanges == [OriginRange(topic: "cloudtrail", partition: 0, firstOffset: 0, lastOffset: 1999)])
    }

    @Test func distinctTrackingLimitSaturatesHonestly() throws {
        var configuration = DetectorConfiguration()
        configuration.evidenceLimits.sourceAddresses = 2
        configuration.evidenceLimits.distinctTrackingLimit = 10
        let h = run((0..<50).map { obs(Int64($0), "10.0.0.\($0)") }, configuration)
        let final = try #require(h.finals.first)
        #expect(final.sourceAddresses.count == 12)
        #expect(!final.sourceAddressCountIsExact)
    }

    @Test func alertIDIsDeterministic() throws {
        let a = run([obs(1, "192.0.2.1"), obs(2, "192.0.2.2")])
        var reversed = Harness()
        reversed.process(obs(2, "192.0.2.2"), partition: 7, offset: 100, now: at(1))
        reversed.process(obs(1, "192.0.2.1"), partition: 7, offset: 101, now: at(2))
        reversed.advance(partition: 7, to: at(windowEnd), now: at(3))
        let ids = Set((a.alerts + reversed.alerts).map(\.id))
        #expect(ids == ["3557a0e8b8f2fe6d5ab8c799fe241ad14236fb03ec92e207bd41ee88283a76a5"])
        let next = run([obs(1801, "192.0.2.1"), obs(1802, "192.0.2.2")])
        #expect(next.alerts.first?.id != ids.first)
        let bob = run([obs(1, "192.0.2.1", arn: "arn:aws:iam::123456789012:user/bob"), obs(2, "192.0.2.2", arn: "arn:aws:iam::123456789012:user/bob")])
        #expect(bob.alerts.first?.id != ids.first)
    }

    @Test func ipv6CountsByPrefixWhenAsked() throws {
        let a = SourceAddress.ipv6(high: 0x2001_0db8_0000_0001, low: 0x11)
        let b = SourceAddress.ipv6(high: 0x2001_0db8_0000_0001, low: 0x22)
        func stream() -> [Observation] {
            [a, b].enumerated().map { i, address in
                var o = obs(Int64(i), "0.0.0.1")
                o.address = address
                return o
            }
        }
        #expect(run(stream()).finals.count == 1)
        var configuration = DetectorConfiguration()
        configuration.rule.addressNormalization = .ipv6Prefix64
        let rule = DetectionRule(configuration.rule)
        let normalised = stream().map { o -> Observation in
            var n = o
            n.address = rule.configuration.addressNormalization.normalize(o.address)
            return n
        }
        #expect(run(normalised, configuration).alerts.isEmpty)
        var third = normalised[0]
        third.address = .ipv6(high: 0x2001_0db8_0000_0002, low: 0)
        let final = try #require(run(normalised + [third], configuration).finals.first)
        #expect(final.sourceAddresses.count == 2)
        #expect(final.sourceAddresses.values.allSatisfy { $0.hasSuffix("/64") })
    }

    @Test func checkpointSafeOffsetIsTheOldestWindowHoldingState() {
        var h = Harness()
        #expect(h.detector.checkpoint(partition: 0) == nil)
        h.process(obs(1, "192.0.2.1"), offset: 10, now: wall)
        h.process(obs(1900, "192.0.2.1"), offset: 11, now: wall)     // next window
        #expect(h.detector.checkpoint(partition: 0) == DetectorCheckpoint(safeOffset: 10, watermark: at(baseTime + 1_900_000 - 300_000), nextOffset: 12))
        h.process(observe(makeEvent(time: windowEnd + 5 * minute, address: ipv4("192.0.2.1"))), offset: 12, now: wall)
        #expect(h.detector.checkpoint(partition: 0)?.safeOffset == 11, "first window fired and purged")
        h.advance(to: at(.max / 2), now: wall)
        #expect(h.detector.checkpoint(partition: 0)?.safeOffset == 13, "nothing open: the next offset")
        h.detector.drop(partition: 0)
        #expect(h.detector.checkpoint(partition: 0) == nil)
    }

    @Test func recordsWithoutObservationsMoveTheSafeOffsetOn() {
        var h = Harness()
        h.process(obs(1, "192.0.2.1"), offset: 0, now: wall)
        h.detector.noteActivity(partition: 0, offset: 1, now: wall)
        #expect(h.detector.checkpoint(partition: 0)?.safeOffset == 0, "the open window still pins offset 0")
        h.advance(to: at(windowEnd), now: wall)
        h.detector.noteActivity(partition: 0, offset: 7, now: wall)
        #expect(h.detector.checkpoint(partition: 0)?.safeOffset == 8)
    }

    @Test func restoreSkipsWindowsFiredBeforeTheCheckpoint() {
        var h = Harness()
        h.detector.restore(partition: 0, from: DetectorCheckpoint(safeOffset: 0, watermark: at(windowEnd), nextOffset: 3), mode: .boundedOutOfOrderness)
        #expect(h.detector.checkpoint(partition: 0) == DetectorCheckpoint(safeOffset: 0, watermark: at(windowEnd), nextOffset: 3))
        h.process(obs(1, "192.0.2.1"), offset: 0, now: wall)
        h.process(obs(2, "192.0.2.2"), offset: 1, now: wall)
        h.process(obs(1801, "192.0.2.2"), offset: 2, now: wall)
        h.process(obs(3, "192.0.2.3"), offset: 3, now: wall)   // past the replay: a genuinely late event
        #expect(h.outcomes == [.skipped, .skipped, .accepted, .late])
        #expect(h.alerts.isEmpty)
        #expect(h.detector.statistics(partition: 0)?.skipped == 2)
    }
}
