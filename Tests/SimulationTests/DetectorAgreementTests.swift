import CloudTrail
import Detection
import Testing
@testable import Simulation

/// The traffic through tokentrail's own decoder, rule and streaming detector (keyed input, one
/// detector partition per generator partition, no Kafka) yields exactly the oracle's final alerts:
/// the generator and its oracle fit the detector they are meant to test.
@Suite struct DetectorAgreementTests {
    @Test func streamingFinalsEqualTheOracle() throws {
        let generator = try TrafficGenerator(Sample.configuration(keyed: true))
        let decoder = CloudTrailDecoder()
        let rule = DetectionRule(.seed)
        var detector = WindowedDetector(DetectorConfiguration())
        var offsets = [Int64](repeating: 0, count: generator.configuration.partitions)
        var finals: [ExpectedAlert] = []
        var newest = EventTime(millisecondsSinceEpoch: 0)
        func collect(_ alerts: [Alert]) {
            for a in alerts where a.status == .final {
                finals.append(ExpectedAlert(principalArn: a.principal.arn, windowStart: a.window.start,
                                            sourceAddresses: a.sourceAddresses.values))
            }
        }
        for e in generator {
            let p = Int32(e.partition)
            newest = max(newest, e.eventTime)
            for event in decoder.decode(e.json).events {
                let origin = EventOrigin(topic: "cloudtrail", partition: p, offset: offsets[e.partition])
                guard case .success(let observation) = rule.evaluate(event, origin: origin) else { continue }
                let result = detector.process(observation, partition: p, offset: offsets[e.partition], now: newest)
                #expect(result.outcome == .accepted, "bounded disorder: nothing is late")
                collect(result.alerts)
            }
            offsets[e.partition] += 1
        }
        // End of stream: every partition caught up, then the wall clock moves past the idle timeout.
        let later = EventTime(millisecondsSinceEpoch: newest.millisecondsSinceEpoch + 3_600_000)
        for p in detector.partitionIDs { detector.setCaughtUp(partition: p, true, now: newest) }
        collect(detector.tick(now: later))
        collect(detector.tick(now: EventTime(millisecondsSinceEpoch: later.millisecondsSinceEpoch + 3_600_000)))
        #expect(finals.count == Set(finals).count, "one final per window")
        #expect(finals.sorted() == generator.expectedAlerts())
        #expect(!finals.isEmpty)
    }
}

/// The pipeline decodes only `DetectionRule.fieldsRead`: over the simulator's whole mix (every
/// identity type, rejected and kept events, attacks) and with extended rules (allow lists, console
/// exclusion, data-event network exclusion inputs), the rule must say exactly what it says on
/// fully decoded events. A field the rule starts reading but `fieldsRead` misses fails here.
@Suite struct RuleFieldsTests {
    @Test func theRuleSeesNoDifferenceWithOnlyTheFieldsItReads() throws {
        let full = CloudTrailDecoder()
        let partial = CloudTrailDecoder(fields: DetectionRule.fieldsRead)
        var configuration = RuleConfiguration.seed
        configuration.groupingKey = .accessKeyId
        let rules = [DetectionRule(.seed), DetectionRule(configuration)]
        var compared = 0
        var kept = 0
        for (i, e) in Sample.events.enumerated() {
            let a = full.decode(e.json), b = partial.decode(e.json)
            #expect(a.errors == b.errors)
            #expect(a.events.count == b.events.count)
            for (x, y) in zip(a.events, b.events) {
                let origin = EventOrigin(topic: "cloudtrail", partition: 0, offset: Int64(i))
                for rule in rules {
                    let rx = rule.evaluate(x, origin: origin), ry = rule.evaluate(y, origin: origin)
                    #expect(rx == ry)
                    if case .success = rx { kept += 1 }
                    compared += 1
                }
            }
        }
        #expect(compared == 2 * Sample.events.count)
        #expect(kept > 0 && kept < compared, "both outcomes are exercised")
        // What is spared: fields the rule never reads come back nil.
        let sample = try #require(Sample.events.lazy.compactMap { partial.decode($0.json).events.first }
            .first { $0.userIdentity.principalId == nil && $0.userIdentity.arn != nil })
        #expect(sample.sourceIPAddress == nil)
    }
}

/// The pipeline lends each event to the rule in place (`CloudTrailDecoder.decodeEach`,
/// `DetectionRule.evaluate(_: EventFields, …)`): it must say exactly what the rule says on the
/// events `decode` makes, with the same decoding errors, over the simulator's mix (with bad records
/// and batches), hand-made edge cases, and rules that exercise every test.
@Suite struct LentRuleTests {
    static var rules: [DetectionRule] {
        var byKey = RuleConfiguration.seed
        byKey.groupingKey = .accessKeyId
        // ASCII settings: bytes decide, except for input that is not ASCII ("K" and the Kelvin sign
        // are the same `String`).
        var wide = RuleConfiguration.seed
        wide.identityTypes = ["IAMUser", "AssumedRole", "Root", "Kelvin"]
        wide.accessKeyPrefixes = ["ASIA", "AKIA"]
        wide.excludedEventSources = ["s3.amazonaws.com", "sts.amazonaws.com"]
        wide.excludeConsoleSessions = true
        wide.allowedPrincipals = [PrincipalPattern("arn:aws:iam::*:user/svc-*")]
        // Settings that are not ASCII: `String` decides.
        var accented = RuleConfiguration.seed
        accented.identityTypes = ["IAMUser", "Caf\u{E9}"]
        accented.accessKeyPrefixes = ["ASIA", "\u{C5}"]
        return [DetectionRule(.seed), DetectionRule(byKey), DetectionRule(wide), DetectionRule(accented)]
    }

    static func compare(_ record: [UInt8], decoder: CloudTrailDecoder, offset: Int64, kept: inout Int, seen: inout Int) {
        let made = decoder.decode(record)
        var lent = CloudTrailDecodeResult()
        var events: [CloudTrailEvent] = []
        var outcomes: [[Result<Observation, RejectReason>]] = []
        let rules = Self.rules
        // The route stage's form: kept events encoded from their bytes, rejections with their reason.
        var lentBatches = [ObservationBatch](repeating: ObservationBatch(), count: rules.count)
        var lentRejections: [[RejectReason?]] = []
        let origin = EventOrigin(topic: "cloudtrail", partition: 0, offset: offset)
        decoder.decodeEach(record, into: &lent) { event in
            events.append(event.event())
            outcomes.append(rules.map { $0.evaluate(event, origin: origin) })
            lentRejections.append(rules.indices.map { k in
                switch rules[k].keep(event) {
                case .success(let keptEvent):
                    lentBatches[k].append(keptEvent, origin: origin)
                    return nil
                case .failure(let reason):
                    return reason
                }
            })
        }
        #expect(lent.errors == made.errors)
        #expect(lent.filtered == made.filtered)
        #expect(lent.events.isEmpty, "lent events are not made")
        #expect(events == made.events)
        var madeBatches = [ObservationBatch](repeating: ObservationBatch(), count: rules.count)
        for (n, event) in made.events.enumerated() {
            let madeOutcomes = rules.map { $0.evaluate(event, origin: origin) }
            if n < outcomes.count { #expect(outcomes[n] == madeOutcomes) }
            for (k, outcome) in madeOutcomes.enumerated() {
                switch outcome {
                case .success(let observation):
                    madeBatches[k].append(observation)
                    if n < lentRejections.count { #expect(lentRejections[n][k] == nil) }
                case .failure(let reason):
                    if n < lentRejections.count { #expect(lentRejections[n][k] == reason) }
                }
            }
            kept += madeOutcomes.filter { (try? $0.get()) != nil }.count
            seen += madeOutcomes.count
        }
        #expect(lentBatches.map(\.bytes) == madeBatches.map(\.bytes), "the route stage encodes the same observations")
    }

    @Test func lentEventsGetTheSameAnswerAsMadeOnes() throws {
        // Batches of three with every kind of bad record mixed in (the 5 MiB one is skipped: slow in
        // debug builds, and too large for the decoder either way).
        let stream = try RecordStream(generator: Sample.generator, options: RecordOptions(batchSize: 3, badRecords: 40))
        let decoders = [CloudTrailDecoder(fields: DetectionRule.fieldsRead), CloudTrailDecoder()]
        var kept = 0, seen = 0, records = 0
        for (i, record) in stream.enumerated() where record.badKind != .oversized {
            for decoder in decoders { Self.compare(record.value, decoder: decoder, offset: Int64(i), kept: &kept, seen: &seen) }
            records += 1
        }
        #expect(records > 100)
        #expect(kept > 0 && kept < seen, "both outcomes are exercised")
    }

    @Test(arguments: [
        // Escaped field values (the lent path unescapes them in place).
        #"{"eventTime":"2026-03-02T00:00:00Z","eventSource":"ec2.amazonaws.com","sourceIPAddress":"203.0.113.9","userAgent":"aws-cli\/2","userIdentity":{"type":"\u0041ssumedRole","arn":"arn:aws:sts::1:assumed-role\/r\/s","accessKeyId":"\u0041SIAX"}}"#,
        // Canonically equivalent but different bytes: String equality decides (Kelvin sign, e + accent).
        #"{"eventTime":"2026-03-02T00:00:00Z","sourceIPAddress":"203.0.113.9","userIdentity":{"type":"\u212Aelvin","arn":"arn:x","accessKeyId":"ASIAX"}}"#,
        #"{"eventTime":"2026-03-02T00:00:00Z","sourceIPAddress":"203.0.113.9","userIdentity":{"type":"Cafe\u0301","arn":"arn:x","accessKeyId":"A\u030AX"}}"#,
        // A combining mark right after the prefix: String.hasPrefix says no.
        #"{"eventTime":"2026-03-02T00:00:00Z","sourceIPAddress":"203.0.113.9","userIdentity":{"type":"IAMUser","arn":"arn:x","accessKeyId":"ASIA\u0301X"}}"#,
        // Excluded source, console session, allowlisted principal, empty ARN, null key.
        #"{"eventTime":"2026-03-02T00:00:00Z","eventSource":"s3.amazonaws.com","sourceIPAddress":"203.0.113.9","userIdentity":{"type":"IAMUser","arn":"arn:x","accessKeyId":"ASIAX"}}"#,
        #"{"eventTime":"2026-03-02T00:00:00Z","sessionCredentialFromConsole":"true","sourceIPAddress":"203.0.113.9","userIdentity":{"type":"IAMUser","arn":"arn:x","accessKeyId":"ASIAX"}}"#,
        #"{"eventTime":"2026-03-02T00:00:00Z","sourceIPAddress":"203.0.113.9","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/svc-a","accessKeyId":"ASIAX"}}"#,
        #"{"eventTime":"2026-03-02T00:00:00Z","sourceIPAddress":"203.0.113.9","userIdentity":{"type":"IAMUser","arn":"","accessKeyId":null}}"#,
        // Bad UTF-8 and a bad escape in fields the rule reads: the same error, naming the same field.
        "{\"eventTime\":\"2026-03-02T00:00:00Z\",\"userAgent\":\"a\u{FF}\",\"userIdentity\":{\"type\":\"IAMUser\",\"arn\":\"arn:\u{C0}\"}}",
        #"{"eventTime":"2026-03-02T00:00:00Z","eventName":"Get\q","userIdentity":{"type":"IAMUser"}}"#,
        // Kept with the account from recipientAccountId; an access key equal to the ARN (grouped by key).
        #"{"eventTime":"2026-03-02T00:00:00Z","recipientAccountId":"210987654321","sourceIPAddress":"2001:db8::7","userIdentity":{"type":"AssumedRole","arn":"arn:z","accessKeyId":"ASIAZ"}}"#,
        #"{"eventTime":"2026-03-02T00:00:00Z","sourceIPAddress":"203.0.113.9","userIdentity":{"type":"IAMUser","arn":"ASIASAME","accessKeyId":"ASIASAME"}}"#,
        // Envelopes: a batch with a bad member, an EventBridge detail.
        #"{"Records":[{"eventTime":"2026-03-02T00:00:00Z","sourceIPAddress":"203.0.113.9","userIdentity":{"type":"IAMUser","arn":"arn:x","accessKeyId":"ASIAX"}},{"eventTime":"bad"},7]}"#,
        #"{"detail":{"eventTime":"2026-03-02T00:00:00Z","sourceIPAddress":"203.0.113.9","userIdentity":{"type":"AssumedRole","arn":"arn:y","accessKeyId":"ASIAY"}}}"#,
    ])
    func edgeCasesAgree(json: String) {
        // Latin-1 escapes above stand for raw bytes: \u{FF} and \u{C0} are invalid UTF-8 as single bytes.
        let record = json.unicodeScalars.map { $0.value < 0x100 ? UInt8($0.value) : 0x3F }
        var kept = 0, seen = 0
        for decoder in [CloudTrailDecoder(fields: DetectionRule.fieldsRead), CloudTrailDecoder()] {
            Self.compare(record, decoder: decoder, offset: 1, kept: &kept, seen: &seen)
        }
    }
}

/// The windows fed three ways give the same alerts, every revision and every field: made
/// observations (`process(Observation)`), kept events read in place from the input
/// (`process(kept, origin:)`, keyed input) and observations read in place from their encoding
/// (`process(EncodedObservation)`, the repartition topic). Small evidence limits push the lists past
/// their bounds (eviction, fingerprints, saturation); threshold 1 makes every window a full one.
@Suite struct LentDetectorTests {
    static var configurations: [DetectorConfiguration] {
        var small = DetectorConfiguration()
        small.evidenceLimits.sourceAddresses = 2
        small.evidenceLimits.userAgents = 1
        small.evidenceLimits.eventSources = 2
        small.evidenceLimits.eventNames = 3
        small.evidenceLimits.awsRegions = 1
        small.evidenceLimits.accessKeyIds = 1
        small.evidenceLimits.sampleEventIDs = 2
        small.evidenceLimits.distinctTrackingLimit = 3
        small.updateInterval = .zero
        var everyWindow = DetectorConfiguration()
        everyWindow.rule.threshold = 1
        var byKey = small
        byKey.rule.groupingKey = .accessKeyId
        return [DetectorConfiguration(), small, everyWindow, byKey]
    }

    @Test(arguments: 0..<4)
    func threeWaysIntoTheWindowsGiveTheSameAlerts(configuration index: Int) throws {
        let configuration = Self.configurations[index]
        let stream = try RecordStream(generator: Sample.generator, options: RecordOptions(batchSize: 3, badRecords: 20))
        let decoder = CloudTrailDecoder(fields: DetectionRule.fieldsRead)
        let rule = DetectionRule(configuration.rule)
        var made = WindowedDetector(configuration)
        var lent = WindowedDetector(configuration)
        var encoded = WindowedDetector(configuration)
        var result = CloudTrailDecodeResult()
        var alerts: [[Alert]] = [[], [], []]
        var offset: Int64 = 0
        var newest = EventTime(millisecondsSinceEpoch: 0)
        for record in stream where record.badKind != .oversized {
            let now = newest
            decoder.decodeEach(record.value, into: &result) { event in
                let origin = EventOrigin(topic: "cloudtrail", partition: 0, offset: offset)
                guard case .success(let observation) = rule.evaluate(event, origin: origin),
                      case .success(let kept) = rule.keep(event) else { return }
                newest = max(newest, observation.eventTime)
                alerts[0] += made.process(observation, partition: 0, offset: offset, now: now).alerts
                alerts[1] += lent.process(kept, origin: origin, partition: 0, offset: offset, now: now).alerts
                let bytes = observation.encode()
                bytes.withUnsafeBytes { value in
                    guard let e = try? EncodedObservation.read(value) else {
                        Issue.record("an encoded observation reads back")
                        return
                    }
                    alerts[2] += encoded.process(e, partition: 0, offset: offset, now: now).alerts
                }
                offset += 1
            }
        }
        let end = EventTime(millisecondsSinceEpoch: newest.millisecondsSinceEpoch + 3_600_000)
        alerts[0] += made.advance(partition: 0, externalWatermark: end, now: end)
        alerts[1] += lent.advance(partition: 0, externalWatermark: end, now: end)
        alerts[2] += encoded.advance(partition: 0, externalWatermark: end, now: end)
        #expect(alerts[0].contains { $0.status == .final })
        #expect(alerts[0].contains { $0.revision > 1 }, "updates are exercised")
        #expect(alerts[1] == alerts[0], "kept events read in place")
        #expect(alerts[2] == alerts[0], "encoded observations read in place")
        #expect(lent.summary() == made.summary())
        #expect(encoded.summary() == made.summary())
    }
}
