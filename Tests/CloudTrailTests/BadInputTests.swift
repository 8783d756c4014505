import Testing
@testable import CloudTrail

/// Whatever the bytes, the decoder returns: typed errors, no crash, no hang, linear time.
@Suite struct BadInputTests {
    let decoder = CloudTrailDecoder()

    func reasons(_ text: String) -> [CloudTrailDecodingError.Reason] {
        decoder.decode(text.bytes).errors.map(\.reason)
    }

    @Test func notJSON() {
        for text in ["", "   ", "{", "}", "{\"eventTime\"", "nul", "{'a':1}", "{\"a\":01}", "{\"a\":1,}",
                     "{\"a\" 1}", "\u{0}", "{} {}", "{\"a\":\"\u{1}\"}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":1e}", "[}"] {
            #expect(reasons(text) == [.notJSON], "\(text.debugDescription)")
        }
    }

    @Test func notObject() {
        for text in ["1", "\"event\"", "null", "true", " -0.5e3 "] {
            #expect(reasons(text) == [.notObject], "\(text)")
        }
    }

    @Test func missingOrBadEventTime() {
        #expect(reasons(#"{"eventName":"X"}"#) == [.missingEventTime])
        #expect(reasons(#"{"eventTime":null}"#) == [.missingEventTime])
        #expect(reasons(#"{"eventTime":"yesterday"}"#) == [.badTimestamp])
        #expect(reasons(#"{"eventTime":1772439267}"#) == [.wrongType])
        #expect(reasons("{}") == [.missingEventTime])
    }

    @Test func aBatchWithBadMembersKeepsTheGoodOnes() {
        let good = Fixture.event("iam-user-session-token")
        let members: [[UInt8]] = [
            good, Array("5".utf8), Array(#"{"eventName":"NoTime"}"#.utf8), Array(#"{"eventTime":"soon"}"#.utf8),
            Array(#"{"eventTime":"2026-03-02T08:00:00Z","userIdentity":{"accessKeyId":12}}"#.utf8),
            Array("null".utf8), Fixture.event("root-user"),
        ]
        let result = decoder.decode(Fixture.records(members))
        #expect(result.events.map(\.userIdentity.type) == ["IAMUser", "Root"])
        #expect(result.errors.map(\.reason) == [.notObject, .missingEventTime, .badTimestamp, .wrongType, .notObject])
        #expect(result.errors.map(\.recordIndex) == [1, 2, 3, 4, 5])
        #expect(result.errors[3].field == "userIdentity.accessKeyId")
    }

    @Test func aBrokenBatchKeepsTheMembersBeforeTheBreak() {
        let doc = Array(#"{"Records":["#.utf8) + Fixture.event("root-user") + Array(",".utf8)
            + Fixture.event("aws-internal") + Array(#",{"eventTime":"#.utf8)
        let result = decoder.decode(doc)
        #expect(result.events.count == 2)
        #expect(result.errors.map(\.reason) == [.notJSON])
        #expect(result.errors.first?.recordIndex == 2)
    }

    @Test func randomBytes() {
        var random = SeededRandom(seed: 1)
        let alphabet = Array(#"{}[]":,\ 0123456789-.eEtrufalsn"#.utf8)
        for round in 0..<3000 {
            let count = Int.random(in: 0...300, using: &random)
            let bytes: [UInt8] = (0..<count).map { _ in
                round % 2 == 0 ? UInt8.random(in: 0...255, using: &random) : alphabet.randomElement(using: &random)!
            }
            let result = decoder.decode(bytes)
            // Something is always said about every input: an event or a reason.
            #expect(!(result.events.isEmpty && result.errors.isEmpty) || isEmptyBatch(bytes))
        }
    }

    func isEmptyBatch(_ bytes: [UInt8]) -> Bool {
        let trimmed = bytes.filter { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }
        return trimmed == Array("[]".utf8)
    }

    @Test func truncationAtEveryOffset() {
        let event = Fixture.event("assumed-role")
        for n in 0..<event.count {
            let result = decoder.decode(Array(event[..<n]))
            #expect(result.events.isEmpty && result.errors.map(\.reason) == [.notJSON], "prefix \(n)")
        }
        // A truncated batch yields a prefix of the batch's events, never something else.
        let batch = Fixture.records(Fixture.allEvents)
        let all = decoder.decode(batch).events
        for n in stride(from: 0, to: batch.count, by: 7) {
            let result = decoder.decode(Array(batch[..<n]))
            #expect(Array(all.prefix(result.events.count)) == result.events, "prefix \(n)")
            #expect(result.errors.count == 1)
        }
    }

    @Test func truncatedGzip() {
        let gz = Fixture.bytes("records.json.gz")
        for n in 2..<gz.count {
            let result = decoder.decode(Array(gz[..<n]))
            #expect(result.events.isEmpty && result.errors.map(\.reason) == [.badGzip], "prefix \(n)")
        }
    }

    @Test func deepNesting() {
        for open in ["[", "{\"a\":", "{\"Records\":["] {
            let doc = String(repeating: open, count: 100_000)
            let result = decoder.decode(doc.bytes)
            #expect(result.events.isEmpty)
            #expect(result.errors.map(\.reason) == [.tooDeep], "\(open)")
        }
        // Deep nesting inside a skipped field of one member costs that member only.
        let deep = String(repeating: "[", count: 100_000)
        let doc = #"{"Records":[{"eventTime":"2026-03-02T08:00:00Z"},{"eventTime":"2026-03-02T08:00:00Z","requestParameters":"# + deep
        let result = decoder.decode(doc.bytes)
        #expect(result.events.count == 1)
        #expect(result.errors.map(\.reason) == [.tooDeep])
        #expect(result.errors.first?.recordIndex == 1)
        // Within the limit is fine.
        let ok = #"{"eventTime":"2026-03-02T08:00:00Z","x":"# + String(repeating: "[", count: 62)
            + String(repeating: "]", count: 62) + "}"
        #expect(decoder.decode(ok.bytes).events.count == 1)
        let tooDeep = #"{"eventTime":"2026-03-02T08:00:00Z","x":"# + String(repeating: "[", count: 64)
            + String(repeating: "]", count: 64) + "}"
        #expect(decoder.decode(tooDeep.bytes).errors.map(\.reason) == [.tooDeep])
    }

    @Test func tenMegabyteString() {
        let big = String(repeating: "A", count: 10_000_000)
        let doc = #"{"eventTime":"2026-03-02T08:00:00Z","userAgent":""# + big + #""}"#
        #expect(decoder.decode(doc.bytes).errors.map(\.reason) == [.tooLarge])
        let roomy = CloudTrailDecoder(limits: .init(maxDecodedBytes: 16 << 20))
        let result = roomy.decode(doc.bytes)
        #expect(result.events.first?.userAgent?.utf8.count == 10_000_000)
        // The same string skipped (not kept) and unterminated.
        let skipped = #"{"eventTime":"2026-03-02T08:00:00Z","requestParameters":""# + big
        #expect(roomy.decode(skipped.bytes).errors.map(\.reason) == [.notJSON])
    }

    @Test func gzipBomb() {
        // 64 MiB of spaces in 65 KB: stopped at the 8 MiB limit, not inflated whole.
        let result = decoder.decode(Fixture.bytes("bomb.json.gz"))
        #expect(result.errors.map(\.reason) == [.tooLarge])
        let ratio = CloudTrailDecoder(limits: .init(maxDecodedBytes: 1 << 30, maxCompressionRatio: 100))
        #expect(ratio.decode(Fixture.bytes("bomb.json.gz")).errors.map(\.reason) == [.tooLarge])
    }

    @Test func badGzip() {
        #expect(reasons("\u{1F}") == [.notJSON])
        #expect(decoder.decode([0x1F, 0x8B]).errors.map(\.reason) == [.badGzip])
        #expect(decoder.decode([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]).errors.map(\.reason) == [.badGzip])
        var gz = StoredGzip.wrap(Fixture.event("root-user"))
        gz[gz.count - 5] ^= 1  // CRC mismatch
        #expect(decoder.decode(gz).errors.map(\.reason) == [.badGzip])
        #expect(decoder.decode(StoredGzip.wrap(Fixture.event("root-user")) + [0x41]).errors.map(\.reason) == [.badGzip])
    }

    @Test func invalidUTF8() {
        let time = #""eventTime":"2026-03-02T08:00:00Z""#
        var doc = Array("{\(time),\"userAgent\":\"ab".utf8) + [0xC3, 0x28] + Array("\"}".utf8)
        #expect(decoder.decode(doc).errors.map(\.field) == ["userAgent"])
        #expect(decoder.decode(doc).errors.map(\.reason) == [.badUTF8])
        // In a value nobody reads it is not checked (documented: skipped values are checked for structure).
        doc = Array("{\(time),\"requestParameters\":\"ab".utf8) + [0xFF] + Array("\"}".utf8)
        #expect(decoder.decode(doc).events.count == 1)
        #expect(reasons("{\(time),\"eventName\":\"\\ud800\"}") == [.badUTF8])
        #expect(reasons("{\(time),\"eventName\":\"\\udc00\\ud800\"}") == [.badUTF8])
        #expect(reasons("{\(time),\"eventName\":\"\\x41\"}") == [.notJSON])
        #expect(decoder.decode("{\(time),\"eventName\":\"\\ud83d\\ude00 \\u00e9\\n\"}".bytes).events.first?.eventName
            == "\u{1F600} é\n")
    }

    @Test func duplicateKeysFirstWins() {
        let doc = #"{"eventTime":"2026-03-02T08:00:00Z","eventName":"First","eventName":"Second","eventTime":"bad","userIdentity":{"type":"IAMUser","type":"Root"},"userIdentity":{"type":"AssumedRole"}}"#
        let e = decoder.decode(doc.bytes).events.first
        #expect(e?.eventName == "First")
        #expect(e?.userIdentity.type == "IAMUser")
        #expect(e?.eventTime == utc(2026, 3, 2, 8, 0, 0))
    }

    @Test func escapedKeysAreTheSameKeys() {
        let doc = #"{"event\u0054ime":"2026-03-02T08:00:00Z","event\u004eame":"Get\u0053ecret"}"#
        #expect(decoder.decode(doc.bytes).events.first?.eventName == "GetSecret")
    }

    @Test func wrongTypeInEveryField() {
        let fields = ["eventID", "eventSource", "eventName", "eventCategory", "awsRegion", "sourceIPAddress",
                      "userAgent", "recipientAccountId", "errorCode", "sessionCredentialFromConsole", "userIdentity"]
        for field in fields {
            for value in ["42", "{}", "[\"x\"]", "-1.5e10"] where !(field == "userIdentity" && value == "{}") {
                let doc = #"{"eventTime":"2026-03-02T08:00:00Z",""# + field + #"":"# + value + "}"
                let errors = decoder.decode(doc.bytes).errors
                #expect(errors.map(\.reason) == [.wrongType] && errors.first?.field == field, "\(field) \(value)")
            }
        }
        let identity = ["type", "arn", "accountId", "principalId", "userName", "accessKeyId"]
        for field in identity {
            let doc = #"{"eventTime":"2026-03-02T08:00:00Z","userIdentity":{""# + field + #"":7}}"#
            #expect(decoder.decode(doc.bytes).errors.first?.field == "userIdentity." + field)
        }
    }

    /// The session context's strings: first occurrence wins, null is absent, another type is
    /// `wrong_type` naming the field, and lending them (`decodeEach`) gives the same text.
    @Test func sessionContextFields() throws {
        func doc(_ context: String) -> [UInt8] {
            (#"{"eventTime":"2026-03-02T08:00:00Z","userIdentity":{"type":"AssumedRole","sessionContext":"# + context + "}}").bytes
        }
        let good = doc(#"{"sourceIdentity":"alice","attributes":{"creationDate":"2026-03-02T07:55:01Z","creationDate":"x","mfaAuthenticated":"true"},"sourceIdentity":"mallory"}"#)
        let event = try #require(decoder.decode(good).events.first)
        #expect(event.userIdentity.sourceIdentity == "alice")
        #expect(event.userIdentity.sessionCreationDate == "2026-03-02T07:55:01Z")
        #expect(event.userIdentity.mfaAuthenticated == true)
        var result = CloudTrailDecodeResult()
        var lent: [String?] = []
        decoder.decodeEach(good, into: &result) { lent = [$0.string(.sourceIdentity), $0.string(.sessionCreationDate)] }
        #expect(lent == ["alice", "2026-03-02T07:55:01Z"])
        let nulls = try #require(decoder.decode(doc(#"{"sourceIdentity":null,"attributes":{"creationDate":null}}"#)).events.first)
        #expect(nulls.userIdentity.sourceIdentity == nil && nulls.userIdentity.sessionCreationDate == nil)
        #expect(decoder.decode(doc(#"{"sourceIdentity":7}"#)).errors.first?.field == "userIdentity.sessionContext.sourceIdentity")
        #expect(decoder.decode(doc(#"{"attributes":{"creationDate":{}}}"#)).errors.first?.field
            == "userIdentity.sessionContext.attributes.creationDate")
        // Not among the decoder's fields: skipped, never checked or made.
        let partial = CloudTrailDecoder(fields: [.arn])
        let skipped = try #require(partial.decode(good).events.first)
        #expect(skipped.userIdentity.sourceIdentity == nil && skipped.userIdentity.sessionCreationDate == nil)
    }

    @Test func nullEverywhere() {
        // Every value of every fixture replaced by null in turn, at every depth: never a crash, and
        // the event survives unless the null hits eventTime.
        for event in Fixture.allEvents {
            let text = String(decoding: event, as: UTF8.self)
            var starts: [String.Index] = []
            var i = text.startIndex
            while let r = text.range(of: "\":", range: i..<text.endIndex) {
                starts.append(r.upperBound)
                i = r.upperBound
            }
            for start in starts {
                let valueOffset = text.utf8.distance(from: text.startIndex, to: start)
                let end = valueEnd(event, from: valueOffset)
                let nulled = Array(event[..<valueOffset]) + Array("null".utf8) + Array(event[end...])
                let result = decoder.decode(nulled)
                let key = text[..<start].split(separator: "\"").dropLast().last.map(String.init) ?? ""
                if key == "eventTime" {
                    #expect(result.errors.map(\.reason) == [.missingEventTime])
                } else {
                    #expect(result.events.count == 1, "\(key)")
                }
            }
        }
        let allNull = #"{"eventTime":"2026-03-02T08:00:00Z","eventID":null,"userIdentity":null,"sourceIPAddress":null,"sessionCredentialFromConsole":null,"errorCode":null}"#
        let e = decoder.decode(allNull.bytes).events.first
        #expect(e?.userIdentity == UserIdentity())
        #expect(e?.sourceAddress == .notAnAddress)
        #expect(e?.sessionCredentialFromConsole == false)
    }

    /// The offset just past the JSON value starting at `from`, found with the decoder's own scanner.
    func valueEnd(_ bytes: [UInt8], from: Int) -> Int {
        bytes.withUnsafeBufferPointer { buffer in
            var s = JSONScanner(buffer.baseAddress!, count: buffer.count, maxDepth: 64)
            s.pos = from
            try? s.skipValue(depth: 0)
            return s.pos
        }
    }

    @Test func largeBatchesAreLinear() {
        // 20,000 members and a 100,000-element array: quadratic work would not finish in time.
        let member = Array(#"{"eventTime":"2026-03-02T08:00:00Z","eventName":"A"}"#.utf8)
        let doc = Fixture.records(Array(repeating: member, count: 20_000))
        #expect(decoder.decode(doc).events.count == 20_000)
        let wide = #"{"eventTime":"2026-03-02T08:00:00Z","requestParameters":["# + Array(repeating: "1", count: 100_000).joined(separator: ",") + "]}"
        #expect(decoder.decode(wide.bytes).events.count == 1)
    }

    @Test func limitsAreClampedToSaneValues() {
        #expect(CloudTrailDecoder.Limits(maxDepth: 0).maxDepth == 1)
        #expect(CloudTrailDecoder.Limits(maxDepth: 1 << 40).maxDepth == 1024)
        let result = CloudTrailDecoder(limits: .init(maxDepth: 1)).decode(#"{"eventTime":"2026-03-02T08:00:00Z","a":{}}"#.bytes)
        #expect(result.errors.map(\.reason) == [.tooDeep])
    }
}

extension BadInputTests {
    /// Dead-letter headers and metric labels are these strings: renaming one breaks dashboards.
    @Test func reasonsAreStableLabels() {
        #expect(CloudTrailDecodingError.Reason.allCases.map(\.rawValue) == [
            "not_json", "not_object", "missing_event_time", "bad_timestamp", "wrong_type", "bad_utf8", "too_deep",
            "too_large", "bad_gzip",
        ])
        let error = CloudTrailDecodingError(reason: .wrongType, recordIndex: 3, field: "userIdentity.arn")
        #expect(error.description == "wrong_type record=3 field=userIdentity.arn")
    }

    @Test func smallGzipIsNotHeldToTheRatio() {
        // 1 MiB of output is always allowed, so a small, compressible batch is not mistaken for a bomb:
        // the fixture inflates 3.3 KB to 11 KB, far past a ratio of 1.
        let gz = Fixture.bytes("records.json.gz")
        let strict = CloudTrailDecoder(limits: .init(maxCompressionRatio: 1))
        #expect(strict.decode(gz).events.count == Fixture.eventNames.count)
    }
}
