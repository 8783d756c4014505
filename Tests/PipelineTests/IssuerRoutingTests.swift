import CloudTrail
import Detection
import Foundation
import KafkaClient
import Logging
@testable import Pipeline
import Testing

/// `rule.suppression.by: issuer` on unkeyed input: the route stage keys repartition records by the
/// session's issuer, so every session of one role (and each grouping key) lands on one partition.
@Suite struct IssuerRoutingTests {
    static let input = "cloudtrail"
    static let repartition = "tokentrail.repartition"

    static func event(role: String, session: String, id: Int) -> [UInt8] {
        let arn = "arn:aws:sts::123456789012:assumed-role/\(role)/\(session)"
        return Array("""
        {"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:\(session)","arn":"\(arn)","accountId":"123456789012","accessKeyId":"ASIA\(role.uppercased())\(session.uppercased())"},"eventTime":"2026-03-02T08:0\(id % 10):00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"eu-west-1","sourceIPAddress":"192.0.2.\(id % 200 + 1)","userAgent":"aws-cli/2.15.30","eventID":"routing-\(id)","eventType":"AwsApiCall","recipientAccountId":"123456789012"}
        """.utf8)
    }

    /// Principal ARN -> the repartition partitions its observations went to.
    func route(byIssuer: Bool) throws -> [String: Set<Int32>] {
        var c = PipelineConfiguration(inputTopics: [Self.input], inputKeyed: false)
        c.repartitionTopic = Self.repartition
        if byIssuer { c.detector.suppression = SuppressionConfiguration(by: .issuer, period: .seconds(3_600)) }
        let intake = EventIntake(configuration: c, rule: DetectionRule(c.detector.rule))
        var output = StageOutput(configuration: c, logger: Logger(label: "routing") { _ in SwiftLogNoOpLogHandler() })
        var stage = RouteStage(repartitionTopic: Self.repartition, repartitionPartitions: 8, detector: c.detector)
        let tp = KafkaTopicPartition(Self.input, 0)
        stage.assign(tp, watermark: nil)
        var offset: Int64 = 0
        for role in ["DeployRole", "WebServerRole"] {
            for s in 0..<12 {
                let record = InMemoryRecord(topic: Self.input, partition: 0, offset: offset, timestampMilliseconds: nil, key: nil,
                                            value: Self.event(role: role, session: "session-\(s)", id: Int(offset)))
                stage.route(record, tp, now: EventTime(millisecondsSinceEpoch: 1_772_440_000_000), intake: intake, output: &output)
                offset += 1
            }
        }
        stage.flush(output: &output)
        var partitions: [String: Set<Int32>] = [:]
        var observations: [Observation] = []
        for r in output.records where r.record.topic == Self.repartition && r.record.key != nil {
            try r.record.value.withUnsafeBytes { try ObservationBatch.decode($0, into: &observations) }
            for o in observations { partitions[o.principalArn, default: []].insert(try #require(r.partition)) }
        }
        #expect(partitions.count == 24, "every session was routed")
        return partitions
    }

    @Test func byIssuerEveryRoleSessionSharesOnePartition() throws {
        let routed = try route(byIssuer: true)
        let byRole = Dictionary(grouping: routed, by: { SessionIssuer.arn(ofPrincipal: $0.key) })
        #expect(byRole.count == 2)
        for (role, sessions) in byRole {
            #expect(Set(sessions.flatMap(\.value)).count == 1, "\(role): \(sessions.map(\.value))")
        }
        // By grouping key (the default), twelve sessions of a role spread over the eight partitions.
        let spread = try route(byIssuer: false)
        let roles = Dictionary(grouping: spread, by: { SessionIssuer.arn(ofPrincipal: $0.key) })
        #expect(roles.values.allSatisfy { Set($0.flatMap(\.value)).count > 1 })
        #expect(spread.values.allSatisfy { $0.count == 1 }, "a grouping key is on one partition either way")
    }
}
