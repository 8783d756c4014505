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
        #expect(sample.sourceIPAddress == nil && sample.userIdentity.sessionIssuerArn == nil)
    }
}
