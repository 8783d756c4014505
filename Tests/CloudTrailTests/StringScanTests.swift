import CloudTrail
import Testing

/// The scanner finds a string's end sixteen bytes at a time and knows from the same pass whether the
/// bytes before it were all ASCII (then no UTF-8 check follows). Strings of every length, with
/// multi-byte, broken, escaped and control bytes at every position relative to a 16- and an 8-byte
/// block, must come out as the standard library's UTF-8 validation says.
@Suite struct StringScanTests {
    /// A piece of a JSON string's raw contents and the bytes it stands for (nil: a raw control byte,
    /// which is not JSON).
    static let pieces: [(raw: [UInt8], decoded: [UInt8]?)] = [
        (Array("a".utf8), Array("a".utf8)), (Array("Zq7".utf8), Array("Zq7".utf8)),
        ([0xC3, 0xA9], [0xC3, 0xA9]), ([0xE2, 0x82, 0xAC], [0xE2, 0x82, 0xAC]),
        ([0xF0, 0x9F, 0x98, 0x80], [0xF0, 0x9F, 0x98, 0x80]),
        ([0xC3, 0x28], [0xC3, 0x28]), ([0xFF], [0xFF]), ([0xC0, 0xAF], [0xC0, 0xAF]), ([0xED, 0xA0, 0x80], [0xED, 0xA0, 0x80]),
        ([0x80], [0x80]),
        (Array(#"\""#.utf8), Array("\"".utf8)), (Array(#"\n"#.utf8), [0x0A]), (Array(#"\\"#.utf8), Array(#"\"#.utf8)),
        (Array(#"\u00e9"#.utf8), [0xC3, 0xA9]),
        ([0x01], nil), ([0x1F], nil),
    ]

    @Test func stringsAreCheckedAsTheStandardLibraryDoes() throws {
        var random = SeededRandom(seed: 0x5EED_57A1)
        let decoder = CloudTrailDecoder()
        let head = Array(#"{"eventTime":"2026-03-02T08:00:00Z","eventName":""#.utf8)
        // Long enough after the string that the scanner's 16-byte path reads it.
        let tail = Array(#"","awsRegion":"eu-west-1","eventSource":"s3.amazonaws.com"}"#.utf8)
        var outcomes = (events: 0, badUTF8: 0, notJSON: 0)
        for _ in 0..<4000 {
            var raw: [UInt8] = []
            var decoded: [UInt8]? = []
            // Mostly ASCII, so that one odd piece lands anywhere in a block.
            let count = Int.random(in: 0...40, using: &random)
            while raw.count < count {
                let piece = Int.random(in: 0..<8, using: &random) == 0
                    ? Self.pieces.randomElement(using: &random)! : Self.pieces[Int.random(in: 0...1, using: &random)]
                raw += piece.raw
                decoded = piece.decoded.flatMap { d in decoded.map { $0 + d } }
            }
            let document = head + raw + tail
            let result = decoder.decode(document)
            let text = String(decoding: raw, as: UTF8.self).debugDescription
            guard let decoded else {
                #expect(result.errors.map(\.reason) == [.notJSON], "\(text)")
                outcomes.notJSON += 1
                continue
            }
            if let expected = String(validating: decoded, as: UTF8.self) {
                #expect(result.errors.isEmpty, "\(text)")
                #expect(result.events.first?.eventName == expected, "\(text)")
                #expect(result.events.first?.awsRegion == "eu-west-1", "\(text)")
                outcomes.events += 1
            } else {
                #expect(result.errors.map(\.reason) == [.badUTF8], "\(text)")
                outcomes.badUTF8 += 1
            }
        }
        // Not vacuous: every outcome was exercised many times.
        #expect(outcomes.events > 1000 && outcomes.badUTF8 > 300 && outcomes.notJSON > 100)
    }
}
