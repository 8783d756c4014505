import CloudTrail
import Detection
import Testing

/// The repartition record that carries many observations (`ObservationBatch`).
struct ObservationBatchTests {
    private func observation(_ i: Int) -> Observation {
        Observation(
            groupingKey: "arn:aws:sts::123456789012:assumed-role/deploy/s\(i)", principalArn: "arn:aws:sts::123456789012:assumed-role/deploy/s\(i)",
            principalType: "AssumedRole", accountId: "123456789012", address: .ipv4(UInt32(0x0A00_0000 + i)),
            accessKeyId: "ASIAEXAMPLEAAAAAAAAA", userAgent: i % 2 == 0 ? "aws-cli/2.15" : nil, eventSource: "s3.amazonaws.com",
            eventName: "GetObject", awsRegion: "eu-west-1", eventTime: EventTime(millisecondsSinceEpoch: 1_700_000_000_000 + Int64(i)),
            eventID: nil, origin: EventOrigin(topic: "cloudtrail", partition: 3, offset: Int64(i)))
    }

    private func decode(_ bytes: [UInt8]) throws -> [Observation] {
        var out: [Observation] = []
        try bytes.withUnsafeBytes { try ObservationBatch.decode($0, into: &out) }
        return out
    }

    @Test func roundTripKeepsEveryObservationInOrder() throws {
        var batch = ObservationBatch()
        let sent = (0..<300).map(observation)
        for o in sent { batch.append(o.encode()) }
        #expect(batch.count == 300)
        #expect(batch.bytes.withUnsafeBytes { ObservationBatch.isBatch($0) })
        #expect(try decode(batch.bytes) == sent)
        // A single-observation record is told apart by its first byte.
        #expect(!sent[0].encode().withUnsafeBytes { ObservationBatch.isBatch($0) })
    }

    @Test func anyDamageRejectsTheWholeRecord() throws {
        var batch = ObservationBatch()
        for o in (0..<3).map(observation) { batch.append(o.encode()) }
        let good = batch.bytes
        #expect(throws: ObservationBatch.DecodingError.self) { try self.decode(Array(good.dropLast(1))) }
        #expect(throws: ObservationBatch.DecodingError.self) { try self.decode(Array(good.prefix(2))) }
        var wrongVersion = good
        wrongVersion[1] = 9
        #expect(throws: ObservationBatch.DecodingError.self) { try self.decode(wrongVersion) }
        var badInner = good
        badInner[3] = 0x00  // the first observation's magic byte
        do {
            _ = try decode(badInner)
            Issue.record("a damaged observation must be rejected")
        } catch {
            #expect("\(error)".contains("observation 0"))
        }
    }
}
