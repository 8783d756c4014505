import Testing

@testable import CloudTrail

@Suite("UTF8Text: strings from bytes, checked once")
struct UTF8TextTests {
    /// Byte sequences around every UTF-8 boundary: ASCII runs of every length across the eight-byte
    /// steps, valid two- to four-byte sequences, overlongs, surrogates, above U+10FFFF, truncations.
    static let pieces: [[UInt8]] = [
        [], Array("a".utf8), Array("abcdefg".utf8), Array("abcdefgh".utf8), Array("abcdefghijklmnopq".utf8),
        [0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
        [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF0, 0x80, 0x80, 0xAF],
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0x80], [0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98],
        [0x00], [0x7F],
    ]

    func check(_ bytes: [UInt8]) {
        let expected = String(validating: bytes, as: UTF8.self)
        let actual = bytes.withUnsafeBufferPointer { UTF8Text.string(validating: $0) }
        #expect(actual == expected, "\(bytes)")
        if let actual, let expected {
            #expect(Array(actual.utf8) == Array(expected.utf8))
            #expect(actual.count == expected.count)
            #expect(actual.hashValue == expected.hashValue)
        }
    }

    @Test func agreesWithTheStandardLibraryOnEveryPair() {
        for a in Self.pieces {
            for b in Self.pieces { check(a + b) }
        }
    }

    @Test func agreesWithTheStandardLibraryOnRandomBytes() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...6, using: &random) {
                bytes += Self.pieces.randomElement(using: &random)!
                if Bool.random(using: &random) { bytes.append(UInt8.random(in: 0...255, using: &random)) }
            }
            check(bytes)
        }
    }

    @Test func decodedStringsAreTheSameWhateverTheirSize() throws {
        // Below and above the 15-byte inline limit, ASCII and not, with and without escapes.
        for text in ["ec2", "us-east-1", "s3.amazonaws.com", "arn:aws:iam::123456789012:user/Alice",
                     "é", "Dún Laoghaire", "Dún Laoghaire, County Dublin", "😀 agent"] {
            let doc = "{\"eventVersion\":\"1.08\",\"eventTime\":\"2026-03-02T08:15:00Z\",\"eventName\":\"\(text)\","
                + "\"userAgent\":\"\(text.escapingLetterA())\"}"
            let result = CloudTrailDecoder().decode(Array(doc.utf8))
            let event = try #require(result.events.first, "\(result.errors)")
            #expect(event.eventName == text)
            #expect(event.userAgent == text)
        }
    }
}

private extension String {
    /// Every `a` as the JSON escape `\u0061`.
    func escapingLetterA() -> String {
        var out = ""
        for c in self { if c == "a" { out += "\\u0061" } else { out.append(c) } }
        return out
    }
}
