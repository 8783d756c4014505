import CloudTrail
import Foundation
import Testing

@testable import Detection
import Simulation

/// The simulator's seeded generator (SplitMix64): a failing property case replays from its seed.
typealias SeededRandom = SplitMix64

/// 2026-03-02T08:00:00Z, on a 30-minute boundary.
let baseTime: Int64 = 1_772_438_400_000
let minute: Int64 = 60_000

func at(_ ms: Int64) -> EventTime { EventTime(millisecondsSinceEpoch: ms) }

func ipv4(_ text: String) -> SourceAddress { SourceAddress(parsing: text) }

func makeEvent(
    time: Int64,
    address: SourceAddress,
    arn: String = "arn:aws:sts::123456789012:assumed-role/deploy/alice",
    type: String = "AssumedRole",
    accessKeyId: String = "ASIAEXAMPLEKEY000001",
    userAgent: String? = "aws-cli/2.15.0 Python/3.11.6 Linux/6.1",
    eventSource: String = "s3.amazonaws.com",
    eventName: String = "ListBuckets",
    eventID: String? = nil,
    console: Bool = false,
    issuer: String? = nil,
    created: String? = nil,
    mfa: Bool? = nil,
    sourceIdentity: String? = nil
) -> CloudTrailEvent {
    CloudTrailEvent(
        eventTime: at(time),
        eventID: eventID ?? "evt-\(time)-\(address)",
        eventSource: eventSource,
        eventName: eventName,
        awsRegion: "us-east-1",
        sourceAddress: address,
        userAgent: userAgent,
        sessionCredentialFromConsole: console,
        userIdentity: UserIdentity(type: type, arn: arn, accountId: "123456789012", accessKeyId: accessKeyId,
                                   mfaAuthenticated: mfa, sessionIssuerArn: issuer, sessionCreationDate: created,
                                   sourceIdentity: sourceIdentity)
    )
}

func observe(_ event: CloudTrailEvent, rule: DetectionRule = DetectionRule(), offset: Int64 = 0) -> Observation {
    guard case .success(let o) = rule.evaluate(event, origin: EventOrigin(topic: "cloudtrail", partition: 0, offset: offset)) else {
        fatalError("test event rejected")
    }
    return o
}

/// The shipped schema, loaded once from the repository.
let alertSchema: JSONSchemaValidator = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return try! JSONSchemaValidator(contentsOf: root.appendingPathComponent("schema/alert.schema.json"))
}()

/// Every alert a test sees goes through here: parsed, checked for sorted keys, validated against the schema.
@discardableResult
func validated(_ alerts: [Alert], sourceLocation: SourceLocation = #_sourceLocation) -> [Alert] {
    for alert in alerts {
        let bytes = alert.json()
        do {
            let json = try JSONParser.parse(bytes)
            let errors = alertSchema.validate(json)
            #expect(errors.isEmpty, "\(errors) in \(alert.jsonString)", sourceLocation: sourceLocation)
            #expect(keysSorted(json), "keys not sorted: \(alert.jsonString)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("alert is not JSON: \(error): \(alert.jsonString)", sourceLocation: sourceLocation)
        }
    }
    return alerts
}

func keysSorted(_ json: JSON) -> Bool {
    switch json {
    case .object(let members):
        let keys = members.map(\.0)
        return keys == keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } && members.allSatisfy { keysSorted($0.1) }
    case .array(let items): return items.allSatisfy(keysSorted)
    default: return true
    }
}

/// A detector whose every emitted alert is schema-validated, and which records all of them.
struct Harness {
    var detector: WindowedDetector
    var alerts: [Alert] = []
    var outcomes: [ProcessOutcome] = []

    init(_ configuration: DetectorConfiguration = DetectorConfiguration()) {
        detector = WindowedDetector(configuration)
    }

    mutating func process(_ o: Observation, partition: Int32 = 0, offset: Int64, now: EventTime) {
        let result = detector.process(o, partition: partition, offset: offset, now: now)
        outcomes.append(result.outcome)
        alerts += validated(result.alerts)
    }

    mutating func advance(partition: Int32 = 0, to watermark: EventTime, now: EventTime) {
        alerts += validated(detector.advance(partition: partition, externalWatermark: watermark, now: now))
    }

    mutating func tick(now: EventTime) {
        alerts += validated(detector.tick(now: now))
    }

    var finals: [Alert] { alerts.filter { $0.status == .final } }
    var opens: [Alert] { alerts.filter { $0.status == .open } }
}
