import CloudTrail
import Testing

@testable import Detection

/// Values copied from events into tokentrail's own records are bounded (`ValueCut`).
@Suite struct ValueCutTests {
    @Test func shortValuesAreUnchangedAndLongOnesEndInTheMarkerOnACharacterBoundary() {
        #expect(ValueCut.cut("aws-cli/2.15.0") == "aws-cli/2.15.0")
        let exact = String(repeating: "a", count: ValueCut.maxBytes)
        #expect(ValueCut.cut(exact) == exact)
        // Every alignment of two-, three- and four-byte characters against the cut point.
        for prefix in 0..<4 {
            for unit in ["é", "漢", "🔑"] {
                let text = String(repeating: "x", count: prefix) + String(repeating: unit, count: ValueCut.maxBytes)
                let cut = ValueCut.cut(text)
                #expect(cut.utf8.count <= ValueCut.maxBytes)
                #expect(cut.utf8.count > ValueCut.maxBytes - 3 - 4)
                #expect(cut.hasSuffix("…"))
                #expect(text.hasPrefix(String(cut.dropLast())), "a prefix of the original, whole characters only")
                #expect(String(validating: Array(cut.utf8), as: UTF8.self) != nil)
            }
        }
    }

    @Test func observationsCarryCutValuesAcrossTheRepartitionTopic() throws {
        let agent = String(repeating: "é", count: 300_000)
        let o = Observation(
            groupingKey: "arn:aws:sts::1:assumed-role/a/s", principalArn: "arn:aws:sts::1:assumed-role/a/s", principalType: "AssumedRole",
            accountId: "1", address: .ipv4(0xC000_0201), accessKeyId: "ASIAEXAMPLE", userAgent: agent, eventSource: "s3.amazonaws.com",
            eventName: "ListBuckets", awsRegion: "us-east-1", eventTime: EventTime(millisecondsSinceEpoch: 1_772_409_600_000),
            eventID: "e1", origin: EventOrigin(topic: "t", partition: 0, offset: 0))
        let bytes = o.encode()
        #expect(bytes.count < 3_000)
        let back = try Observation(decoding: bytes)
        #expect(back.userAgent == ValueCut.cut(agent))
        #expect(back.principalArn == o.principalArn)
    }
}
