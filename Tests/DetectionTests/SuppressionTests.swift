import CloudTrail
import Foundation
import Testing

@testable import Detection

@Suite("Suppression across windows: incidents")
struct SuppressionTests {
    let wall = at(baseTime + 7 * 24 * 60 * minute)
    static let alice = "arn:aws:sts::123456789012:assumed-role/deploy/alice"
    static let bob = "arn:aws:sts::123456789012:assumed-role/deploy/bob"

    func configuration(_ by: SuppressionConfiguration.By = .accessKeyId, for period: Duration = .seconds(3_600)) -> DetectorConfiguration {
        var c = DetectorConfiguration()
        c.suppression = SuppressionConfiguration(by: by, period: period)
        return c
    }

    /// Two addresses in each 30-minute window from `first` on, for `windows` windows: the owner's
    /// and one new attacker address per window. Event ids are unique per event.
    func abuse(windows: Range<Int>, arn: String = alice, key: String = "ASIAEXAMPLEKEY000001", attacker: Int = 0) -> [Observation] {
        windows.flatMap { w -> [Observation] in
            let start = baseTime + Int64(w) * 30 * minute
            return [
                observe(makeEvent(time: start + 2 * minute, address: ipv4("192.0.2.1"), arn: arn, accessKeyId: key,
                                  eventID: "owner-\(arn.suffix(5))-\(w)")),
                observe(makeEvent(time: start + 20 * minute, address: ipv4("198.51.100.\(attacker + w + 1)"), arn: arn,
                                  accessKeyId: key, eventID: "attacker-\(arn.suffix(5))-\(w)")),
            ]
        }
    }

    /// Feeds the stream in derived-watermark mode (offsets 0, 1, ...), then closes everything.
    func run(_ stream: [Observation], _ c: DetectorConfiguration) -> Harness {
        var h = Harness(c)
        for (i, o) in stream.enumerated() { h.process(o, offset: Int64(i), now: wall) }
        h.advance(to: at(.max / 2), now: wall)
        return h
    }

    /// A JSON without `detected_at`: what a replay must reproduce.
    func content(_ a: Alert) -> String {
        var a = a
        a.detectedAt = at(0)
        return a.jsonString
    }

    @Test func threeHoursOfAbuseAreOneIncident() throws {
        let stream = abuse(windows: 0..<6).sorted { $0.eventTime < $1.eventTime }
        let plain = run(stream, DetectorConfiguration())
        #expect(plain.finals.count == 6, "without suppression: six windows, six alerts")

        let h = run(stream, configuration())
        #expect(Set(h.alerts.map(\.id)).count == 1, "one incident id")
        #expect(h.alerts.map(\.id).first == plain.alerts.first?.id, "the incident id is its first window's alert id")
        #expect(h.alerts.map(\.revision) == Array(1...h.alerts.count), "revisions keep increasing across windows")
        #expect(h.finals.count == 1)
        #expect(h.alerts.last?.status == .final)
        let final = try #require(h.finals.first)
        #expect(final.suppression?.windowCount == 6)
        #expect(final.suppression?.by == "access_key_id")
        #expect(final.suppression?.key == "ASIAEXAMPLEKEY000001")
        #expect(RFC3339.format(final.window.start) == "2026-03-02T08:00:00Z")
        #expect(RFC3339.format(final.window.end) == "2026-03-02T11:00:00Z")
        #expect(final.sourceAddresses.values == ["192.0.2.1"] + (1...6).map { "198.51.100.\($0)" })
        #expect(final.sourceAddresses.count == 7 && final.sourceAddressCountIsExact)
        #expect(final.eventCount == 12)
        #expect(final.evidence.sampleEventIDs.count == 10, "the union, cut at the sample bound")
        #expect(final.firstSeen == at(baseTime + 2 * minute))
        #expect(final.lastSeen == at(baseTime + 5 * 30 * minute + 20 * minute))
        // Each window's alerts became revisions of the incident: the counts grow window by window.
        let opens = h.opens.map { $0.suppression?.windowCount ?? 0 }
        #expect(opens == opens.sorted() && opens.last == 6)
    }

    @Test func evidenceUnionStaysWithinTheBounds() throws {
        var c = configuration()
        c.evidenceLimits.sourceAddresses = 3
        let h = run(abuse(windows: 0..<6).sorted { $0.eventTime < $1.eventTime }, c)
        let final = try #require(h.finals.first)
        #expect(final.sourceAddresses.values == ["192.0.2.1", "198.51.100.1", "198.51.100.2"])
        // Past the bound the incident no longer knows every window's addresses: an honest lower bound.
        #expect((4...7).contains(final.sourceAddresses.count))
        #expect(!final.sourceAddressCountIsExact)
        let small = run(abuse(windows: 0..<1).sorted { $0.eventTime < $1.eventTime }, c)
        #expect(small.finals.first?.sourceAddressCountIsExact == true, "one window, within the bound: exact")
    }

    @Test func aGapOfForOrMoreStartsANewIncident() throws {
        // Windows 08:00, 08:30, then 10:00: the quiet hour 09:00-10:00 is `for` (1h), so a new incident;
        // 09:30 would still have joined.
        let stream = (abuse(windows: 0..<2) + abuse(windows: 4..<5)).sorted { $0.eventTime < $1.eventTime }
        let h = run(stream, configuration())
        #expect(h.finals.count == 2)
        #expect(Set(h.alerts.map(\.id)).count == 2)
        #expect(h.finals.map { $0.suppression?.windowCount } == [2, 1])
        for id in Set(h.alerts.map(\.id)) {
            let revisions = h.alerts.filter { $0.id == id }.map(\.revision)
            #expect(revisions == Array(1...revisions.count))
        }

        let joined = run((abuse(windows: 0..<2) + abuse(windows: 3..<4)).sorted { $0.eventTime < $1.eventTime }, configuration())
        #expect(joined.finals.count == 1 && joined.finals.first?.suppression?.windowCount == 3, "a gap shorter than for joins")
    }

    @Test func theIncidentIsFinalOnlyWhenTheWatermarkPassesForAfterItsLastWindow() {
        var h = Harness(configuration())
        h.detector.assign(partition: 0, mode: .external)
        for (i, o) in abuse(windows: 0..<2).enumerated() { h.process(o, offset: Int64(i), now: wall) }
        let lastEnd = baseTime + 60 * minute
        h.advance(to: at(lastEnd), now: wall)
        #expect(h.finals.isEmpty, "the windows closed; the incident waits for `for`")
        #expect(h.detector.summary().incidents == 1)
        // An event that arrives late (its window fired) is dropped and changes nothing.
        h.process(observe(makeEvent(time: baseTime + 10 * minute, address: ipv4("203.0.113.77"))), offset: 10, now: wall)
        #expect(h.outcomes.last == .late)
        h.advance(to: at(lastEnd + 60 * minute - 1), now: wall)
        #expect(h.finals.isEmpty)
        h.advance(to: at(lastEnd + 60 * minute), now: wall)
        #expect(h.finals.count == 1)
        #expect(h.finals.first?.sourceAddresses.values.contains("203.0.113.77") == false)
        #expect(h.detector.summary().incidents == 0, "a closed incident leaves memory")
    }

    @Test func outOfOrderEventsWithinTheBoundLandInTheirWindowsAndTheIncident() throws {
        var stream = abuse(windows: 0..<3).sorted { $0.eventTime < $1.eventTime }
        stream.swapAt(1, 2)  // 08:20 after 08:32, within max_out_of_orderness
        let inOrder = run(abuse(windows: 0..<3).sorted { $0.eventTime < $1.eventTime }, configuration())
        let h = run(stream, configuration())
        #expect(h.finals.count == 1)
        #expect(h.finals.first?.suppression?.windowCount == 3)
        #expect(h.finals.first?.sourceAddresses == inOrder.finals.first?.sourceAddresses)
    }

    @Test func byIssuerOneIncidentForTheRolesSessionsByGroupingKeyOneEach() throws {
        let stream = (abuse(windows: 0..<2) + abuse(windows: 1..<3, arn: Self.bob, key: "ASIAEXAMPLEKEY000002", attacker: 10))
            .sorted { $0.eventTime < $1.eventTime }
        let byIssuer = run(stream, configuration(.issuer))
        #expect(byIssuer.finals.count == 1)
        let final = try #require(byIssuer.finals.first)
        #expect(final.suppression?.key == "arn:aws:iam::123456789012:role/deploy")
        #expect(final.suppression?.windowCount == 4)
        #expect(final.suppression?.groupingKeys.values == [Self.alice, Self.bob])
        #expect(final.accessKeyIds.values == ["ASIAEXAMPLEKEY000001", "ASIAEXAMPLEKEY000002"])

        let byKey = run(stream, configuration(.groupingKey))
        #expect(byKey.finals.count == 2)
        #expect(byKey.finals.map(\.groupingKey).sorted() == [Self.alice, Self.bob])
    }

    @Test func sessionIssuerFromThePrincipalARN() {
        #expect(SessionIssuer.arn(ofPrincipal: "arn:aws:sts::123456789012:assumed-role/deploy/alice")
                == "arn:aws:iam::123456789012:role/deploy")
        #expect(SessionIssuer.arn(ofPrincipal: "arn:aws-cn:sts::123456789012:assumed-role/a.b/i-0abc")
                == "arn:aws-cn:iam::123456789012:role/a.b")
        #expect(SessionIssuer.arn(ofPrincipal: "arn:aws:iam::123456789012:user/carol") == "arn:aws:iam::123456789012:user/carol")
        func prefix(_ arn: String) -> String {
            Array(arn.utf8).withUnsafeBufferPointer { String(decoding: SessionIssuer.partitioningPrefix($0), as: UTF8.self) }
        }
        #expect(prefix("arn:aws:sts::123456789012:assumed-role/deploy/alice") == "arn:aws:sts::123456789012:assumed-role/deploy")
        #expect(prefix("arn:aws:sts::123456789012:assumed-role/deploy/bob") == prefix("arn:aws:sts::123456789012:assumed-role/deploy/alice"))
        #expect(prefix("arn:aws:iam::123456789012:user/carol") == "arn:aws:iam::123456789012:user/carol")
    }

    /// A restart mid-incident: the checkpoint (through its JSON form) and a replay from its safe offset
    /// give the same revisions, with the same content, as a run without the restart.
    @Test(arguments: [3, 7, 10, 11, 13], [Int64(0), 20])
    func checkpointRoundTripMidIncident(stopAfter: Int, latenessMinutes: Int64) throws {
        var stream = abuse(windows: 0..<6).sorted { $0.eventTime < $1.eventTime }
            + [observe(makeEvent(time: baseTime + 5 * 30 * minute + 25 * minute, address: ipv4("203.0.113.5")))]
        // With allowed lateness, a late event reaches window 3 after it fired: a re-emission into the incident.
        stream.insert(observe(makeEvent(time: baseTime + 3 * 30 * minute + 29 * minute, address: ipv4("203.0.113.44"))), at: 10)
        var c = configuration()
        c.allowedLateness = .seconds(latenessMinutes * 60)
        let whole = run(stream, c)

        var first = Harness(c)
        for i in 0..<stopAfter { first.process(stream[i], offset: Int64(i), now: wall) }
        let saved = try #require(first.detector.checkpoint(partition: 0))
        #expect(saved.suppression != nil)
        let json = try JSONEncoder().encode(saved.suppression)
        var checkpoint = saved
        checkpoint.suppression = try JSONDecoder().decode(SuppressionCheckpoint.self, from: json)

        var second = Harness(c)
        second.detector.restore(partition: 0, from: checkpoint, mode: .boundedOutOfOrderness)
        for i in Int(checkpoint.safeOffset)..<stream.count { second.process(stream[i], offset: Int64(i), now: wall) }
        second.advance(to: at(.max / 2), now: wall)

        #expect((first.alerts + second.alerts).map(content) == whole.alerts.map(content))
        #expect(second.finals.first?.suppression?.windowCount == 6)
        #expect(whole.finals.first?.sourceAddresses.values.contains("203.0.113.44") == (latenessMinutes > 0))
    }

    /// The same records with the watermark raised at different points (as markers and batches fall):
    /// the same incidents, final for final.
    @Test func deterministicAcrossBatchings() throws {
        let stream = (abuse(windows: 0..<4) + abuse(windows: 2..<7, arn: Self.bob, key: "ASIAEXAMPLEKEY000002", attacker: 20))
            .sorted { $0.eventTime < $1.eventTime }
        func finals(every k: Int, by: SuppressionConfiguration.By) -> [String] {
            var h = Harness(configuration(by))
            h.detector.assign(partition: 0, mode: .external)
            var highest = Int64.min
            for (i, o) in stream.enumerated() {
                h.process(o, offset: Int64(i), now: wall)
                highest = max(highest, o.eventTime.millisecondsSinceEpoch)
                if (i + 1) % k == 0 { h.advance(to: at(highest - 5 * minute), now: wall) }
            }
            h.advance(to: at(.max / 2), now: wall)
            return h.finals.map(content)
        }
        for by in [SuppressionConfiguration.By.groupingKey, .issuer] {
            let reference = finals(every: 1, by: by)
            #expect(!reference.isEmpty)
            for k in [2, 3, 5, 1_000] { #expect(finals(every: k, by: by) == reference, "\(by) every \(k)") }
        }
    }

    /// OCSF and ECS carry the incident's suppression facts where they keep what has no field of its own.
    @Test func everyFormatCarriesTheIncident() throws {
        let h = run(abuse(windows: 0..<6).sorted { $0.eventTime < $1.eventTime }, configuration())
        let final = try #require(h.finals.first)
        let ocsf = try AlertFormatTests.parse(AlertFormat.ocsf.encode(final))
        let ecs = try AlertFormatTests.parse(AlertFormat.ecs.encode(final))
        for suppression in [AlertFormatTests.path(ocsf, "unmapped", "tokentrail", "suppression"),
                            AlertFormatTests.path(ecs, "tokentrail", "suppression")] {
            #expect(suppression?["window_count"]?.intValue == 6)
            #expect(suppression?["key"]?.stringValue == "ASIAEXAMPLEKEY000001")
        }
        #expect(AlertFormatTests.path(ocsf, "finding_info", "uid")?.stringValue == final.id)
        if AlertValidator.isEnabled {
            for format in [AlertFormat.ocsf, .ecs] {
                let result = try AlertValidator.validate(h.alerts.map(format.encode), format: format)
                #expect(result.status == 0, "\(format): \(result.output)")
            }
        }
    }

    @Test func withoutOpenAlertsAnIncidentSaysOnlyItsFinal() throws {
        var c = configuration()
        c.emitOpenAlerts = false
        let h = run(abuse(windows: 0..<6).sorted { $0.eventTime < $1.eventTime }, c)
        #expect(h.alerts.count == 1)
        #expect(h.alerts.first?.status == .final && h.alerts.first?.revision == 1)
        #expect(h.alerts.first?.suppression?.windowCount == 6)
    }
}

@Suite("Suppression: an incident's session facts")
struct IncidentSessionTests {
    /// Window 0's session said MFA and was issued at 07:00; window 2's did not say MFA and was issued
    /// at 06:00: the incident keeps the earliest issue time and never claims MFA.
    @Test func theIncidentCombinesItsWindowsSessionsAsAWindowCombinesItsEvents() throws {
        let issuer = "arn:aws:iam::123456789012:role/deploy"
        func window(_ w: Int, created: String, mfa: Bool) -> [Observation] {
            let start = baseTime + Int64(w) * 30 * minute
            return ["192.0.2.1", "198.51.100.\(w + 1)"].enumerated().map { i, address in
                observe(makeEvent(time: start + Int64(2 + 18 * i) * minute, address: ipv4(address),
                                  eventID: "e\(w)-\(i)", issuer: issuer, created: created, mfa: mfa))
            }
        }
        var c = DetectorConfiguration()
        c.suppression = SuppressionConfiguration(by: .accessKeyId, period: .seconds(3_600))
        var h = Harness(c)
        let stream = window(0, created: "2026-03-02T07:00:00Z", mfa: true) + window(2, created: "2026-03-02T06:00:00Z", mfa: false)
        for (i, o) in stream.enumerated() { h.process(o, offset: Int64(i), now: at(baseTime)) }
        h.advance(to: at(.max / 2), now: at(baseTime))
        let final = try #require(h.finals.first)
        #expect(h.finals.count == 1 && final.suppression?.windowCount == 2)
        #expect(final.session.issuerArn == issuer)
        #expect(final.session.createdAt.map(RFC3339.format) == "2026-03-02T06:00:00Z")
        #expect(final.session.mfaAuthenticated == false)
        let first = try #require(h.opens.first)
        #expect(first.session.mfaAuthenticated == true, "the first window alone said MFA")
    }
}
