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

    /// The route stage encodes in place behind a two-byte length: short (padded), ordinary and
    /// over-16-KiB observations, mixed with pre-encoded ones, all read back unchanged.
    @Test func inPlaceEncodingReadsBackAtEverySize() throws {
        var tiny = observation(1)
        tiny.principalArn = "p"; tiny.groupingKey = "p"; tiny.principalType = "R"; tiny.accessKeyId = "ASIA1"
        tiny.accountId = nil; tiny.userAgent = nil; tiny.eventSource = nil; tiny.eventName = nil; tiny.awsRegion = nil
        tiny.origin = EventOrigin(topic: "t", partition: 0, offset: 0)
        #expect(tiny.encode().count < 128)
        // Over 16 KiB with every value within `ValueCut.maxBytes` (longer ones are cut).
        var huge = observation(2)
        func long(_ s: String) -> String { String(repeating: s, count: 2_000 / s.utf8.count) }
        huge.userAgent = long("agent/1.0 "); huge.eventSource = long("source "); huge.eventName = long("name ")
        huge.awsRegion = long("region "); huge.eventID = long("id "); huge.accountId = long("1")
        huge.principalType = long("type "); huge.accessKeyId = "ASIA" + long("K")
        huge.origin = EventOrigin(topic: long("topic"), partition: 0, offset: 0)
        #expect(huge.encode().count >= 1 << 14)
        let sent = [tiny, observation(3), huge, tiny, observation(4), huge]
        var batch = ObservationBatch()
        for (i, o) in sent.enumerated() {
            if i == 4 { batch.append(o.encode()) } else { batch.append(o) }
        }
        #expect(batch.count == sent.count)
        #expect(try decode(batch.bytes) == sent)
    }
}
