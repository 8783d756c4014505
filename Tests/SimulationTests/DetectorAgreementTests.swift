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
