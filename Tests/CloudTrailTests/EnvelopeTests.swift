import Testing
@testable import CloudTrail

@Suite struct EnvelopeTests {
    let decoder = CloudTrailDecoder()
    var singles: [CloudTrailEvent] {
        Fixture.allEvents.compactMap { decoder.decode($0).events.first }
    }

    @Test func recordsBatch() {
        let result = decoder.decode(Fixture.records(Fixture.allEvents))
        #expect(result.errors.isEmpty)
        #expect(result.events == singles)
        #expect(result.events.count == Fixture.eventNames.count)
    }

    @Test func topLevelArray() {
        let doc = Array("[".utf8) + Fixture.allEvents.joined(separator: Array(",\n".utf8)) + Array("]".utf8)
        let result = decoder.decode(doc)
        #expect(result.errors.isEmpty)
        #expect(result.events == singles)
    }

    @Test func eventBridgeEnvelope() throws {
        let event = Fixture.event("assumed-role")
        let doc = Array(#"{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"AWS API Call via CloudTrail","source":"aws.s3","account":"123456789012","time":"2026-03-02T08:03:41Z","region":"eu-west-1","resources":[],"detail":"#.utf8)
            + event + Array("}".utf8)
        let result = decoder.decode(doc)
        #expect(result.errors.isEmpty)
        #expect(result.events == decoder.decode(event).events)
    }

    @Test func gzipOfEveryEnvelope() {
        let records = Fixture.records(Fixture.allEvents)
        for doc in [Fixture.event("ipv6-caller"), records, Array("[".utf8) + Fixture.event("root-user") + Array("]".utf8)] {
            let plain = decoder.decode(doc)
            #expect(decoder.decode(StoredGzip.wrap(doc)) == plain)
            #expect(!plain.events.isEmpty)
        }
    }

    @Test func gzipCompressedByGzipItself() {
        // Made by Python's gzip module at level 9 from the Records of all fixtures.
        let result = decoder.decode(Fixture.bytes("records.json.gz"))
        #expect(result.errors.isEmpty)
        #expect(Set(result.events) == Set(singles))
    }

    @Test func concatenatedGzipMembersAreOneStream() {
        let part1 = Array(#"{"Records":["#.utf8) + Fixture.event("root-user")
        let part2 = Array(",".utf8) + Fixture.event("aws-internal") + Array("]}".utf8)
        let result = decoder.decode(StoredGzip.wrap(part1) + StoredGzip.wrap(part2))
        #expect(result.errors.isEmpty)
        #expect(result.events.count == 2)
    }

    @Test func jsonLines() {
        var file = [UInt8]()
        for (k, event) in Fixture.allEvents.enumerated() {
            file += event + Array(k % 2 == 0 ? "\n".utf8 : "\r\n\n".utf8)
        }
        file += Array("not json\n".utf8)
        let result = decoder.decodeLines(file)
        #expect(result.events == singles)
        #expect(result.errors.count == 1)
        #expect(result.errors.first?.reason == .notJSON)
        // Lines: 8 events, 4 of them followed by a blank line, so "not json" is line 12.
        #expect(result.errors.first?.line == 12)
        #expect(decoder.decodeLines(StoredGzip.wrap(file)) == result)
    }

    @Test func byteOrderMarkIsIgnored() {
        let doc = [0xEF, 0xBB, 0xBF] + Fixture.event("root-user")
        #expect(decoder.decode(doc).events.count == 1)
    }

    @Test func anEventKeyMakesAnObjectAnEvent() {
        // An event that happens to carry `Records`/`detail` keys is still that event.
        let doc = #"{"eventTime":"2026-03-02T08:00:00Z","eventName":"X","Records":[{"eventTime":"2026-03-02T09:00:00Z"}],"detail":{"eventTime":"2026-03-02T10:00:00Z"}}"#
        let result = decoder.decode(doc.bytes)
        #expect(result.events.map(\.eventName) == ["X"])
    }

    @Test func emptyBatchesYieldNothing() {
        for doc in [#"{"Records":[]}"#, "[]", " [ ] "] {
            #expect(decoder.decode(doc.bytes) == CloudTrailDecodeResult(), "\(doc)")
        }
    }

    @Test func nonContiguousCollectionsDecodeToo() {
        let doc = Fixture.event("assumed-role")
        #expect(decoder.decode(doc.lazy.map { $0 }) == decoder.decode(doc))
    }
}
