import CloudTrail
import Detection
import Foundation
import Testing

/// 2026-03-02T08:00:00Z, on a 30-minute boundary.
let baseTime: Int64 = 1_772_438_400_000
let minute: Int64 = 60_000

func at(_ ms: Int64) -> EventTime { EventTime(millisecondsSinceEpoch: ms) }

/// An IAM user's call with a long-term key: what elastic-2026 looks at and seed does not.
func iamEvent(
    minute m: Int64, address: String,
    userAgent: String? = "aws-cli/2.15.0 Python/3.11.6 Linux/6.1",
    eventSource: String = "s3.amazonaws.com", eventName: String = "ListBuckets",
    eventCategory: String? = "Management",
    type: String = "IAMUser", arn: String = "arn:aws:iam::123456789012:user/alice",
    accessKeyId: String = "AKIAEXAMPLEKEY000001", console: Bool = false
) -> CloudTrailEvent {
    CloudTrailEvent(
        eventTime: at(baseTime + m * minute),
        eventID: "evt-\(m)-\(address)-\(eventSource)",
        eventSource: eventSource, eventName: eventName, eventCategory: eventCategory, awsRegion: "us-east-1",
        sourceIPAddress: address, userAgent: userAgent, sessionCredentialFromConsole: console,
        userIdentity: UserIdentity(type: type, arn: arn, accountId: "123456789012", accessKeyId: accessKeyId))
}

/// Runs events through the rule and a detector as the pipeline does, closes the window, and returns
/// every alert (each validated against schema/alert.schema.json) and the rule's rejections.
func detect(_ events: [CloudTrailEvent], rule: DetectionRule) -> (alerts: [Alert], rejected: [RejectReason]) {
    var detector = WindowedDetector(DetectorConfiguration(rule: rule.configuration))
    var alerts: [Alert] = []
    var rejected: [RejectReason] = []
    let now = at(baseTime + 40 * minute)
    for (i, event) in events.enumerated() {
        switch rule.evaluate(event, origin: EventOrigin(topic: "cloudtrail", partition: 0, offset: Int64(i))) {
        case .success(let o):
            // Through the repartition codec, as on the unkeyed path.
            let decoded = try! Observation(decoding: o.encode())
            alerts += detector.process(decoded, partition: 0, offset: Int64(i), now: now).alerts
        case .failure(let reason):
            rejected.append(reason)
            detector.noteActivity(partition: 0, offset: Int64(i), now: now)
        }
    }
    alerts += detector.advance(partition: 0, externalWatermark: at(baseTime + 30 * minute), now: now)
    return (validated(alerts), rejected)
}

let alertSchema: JSONSchemaValidator = {
    try! JSONSchemaValidator(contentsOf: GeoIPFixtures.root.appendingPathComponent("schema/alert.schema.json"))
}()

@discardableResult
func validated(_ alerts: [Alert], sourceLocation: SourceLocation = #_sourceLocation) -> [Alert] {
    for alert in alerts {
        do {
            let json = try JSONParser.parse(alert.json())
            let errors = alertSchema.validate(json)
            #expect(errors.isEmpty, "\(errors) in \(alert.jsonString)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("alert is not JSON: \(error): \(alert.jsonString)", sourceLocation: sourceLocation)
        }
    }
    return alerts
}

/// The alert's JSON as a dictionary, for reading fields the way a SIEM would.
func object(_ alert: Alert) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(alert.json())) as? [String: Any])
}
