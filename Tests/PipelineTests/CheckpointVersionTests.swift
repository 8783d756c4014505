import CloudTrail
import Detection
import Foundation
import KafkaClient
@testable import Pipeline
import Testing

/// Checkpoints with incidents (`rule.suppression`) are version 2; without, the version 1 layout stays.
@Suite struct CheckpointVersionTests {
    func incidents() throws -> SuppressionCheckpoint {
        // One incident as a detector writes it: a window of an abused token, mid-incident.
        var c = DetectorConfiguration()
        c.suppression = SuppressionConfiguration(by: .groupingKey, period: .seconds(3_600))
        var detector = WindowedDetector(c)
        detector.assign(partition: 0, mode: .external)
        let base: Int64 = 1_772_438_400_000
        for (i, address) in ["192.0.2.1", "198.51.100.2"].enumerated() {
            let o = Observation(groupingKey: "arn:aws:sts::123456789012:assumed-role/r/s", principalArn: "arn:aws:sts::123456789012:assumed-role/r/s",
                                principalType: "AssumedRole", accountId: "123456789012", address: SourceAddress(parsing: address),
                                accessKeyId: "ASIAEXAMPLE", userAgent: "ua", eventSource: "s3.amazonaws.com", eventName: "ListBuckets",
                                awsRegion: "us-east-1", eventTime: EventTime(millisecondsSinceEpoch: base + Int64(i) * 60_000),
                                eventID: "e\(i)", origin: EventOrigin(topic: "in", partition: 0, offset: Int64(i)), enrichment: nil)
            _ = detector.process(o, partition: 0, offset: Int64(i), now: EventTime(millisecondsSinceEpoch: base + 86_400_000))
        }
        _ = detector.advance(partition: 0, externalWatermark: EventTime(millisecondsSinceEpoch: base + 1_800_000),
                             now: EventTime(millisecondsSinceEpoch: base + 86_400_000))
        return try #require(detector.checkpoint(partition: 0)?.suppression)
    }

    @Test func withoutIncidentsTheLayoutStaysVersionOne() throws {
        let cp = PartitionCheckpoint(group: "g", topic: "t", partition: 0, offset: 5, next: 7, watermark: 1)
        let decoded = try #require(PartitionCheckpoint.decode(cp.encoded()))
        #expect(decoded.version == 1 && decoded.problem == nil && decoded.incidents == nil)
        #expect(!String(decoding: cp.encoded(), as: UTF8.self).contains("incidents"))
    }

    @Test func incidentsMakeVersionTwoAndComeBack() throws {
        var cp = PartitionCheckpoint(group: "g", topic: "t", partition: 0, offset: 5, next: 7, watermark: 1)
        let saved = try incidents()
        #expect(saved.incidentCount == 1, "the incident of the fired window is held")
        cp.incidents = saved
        let decoded = try #require(PartitionCheckpoint.decode(cp.encoded()))
        #expect(decoded.version == 2 && decoded.problem == nil)
        #expect(decoded.incidents == saved)
    }

    @Test func unknownVersionsAndIncidentsInVersionOneAreRefusedWithTheReason() throws {
        var cp = PartitionCheckpoint(group: "g", topic: "t", partition: 0, offset: 5, next: 7, watermark: 1)
        cp.version = 3
        #expect(PartitionCheckpoint.decode(cp.encoded())?.problem == "version 3, this build reads 1 to 2")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(PartitionCheckpoint(
            group: "g", topic: "t", partition: 0, offset: 5, next: 7, watermark: 1).encoded())) as? [String: Any])
        json["incidents"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(try incidents()))
        let bytes = Array(try JSONSerialization.data(withJSONObject: json))
        #expect(PartitionCheckpoint.decode(bytes)?.problem == "version 1 with incidents, which only version 2 holds")
        var latest = LatestCheckpoints()
        let tp = KafkaTopicPartition("t", 0)
        latest.read(bytes, for: tp)
        #expect(latest.found[tp] == nil && latest.unusable[tp] != nil)
    }
}
