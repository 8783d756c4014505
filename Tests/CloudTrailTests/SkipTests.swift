@testable import CloudTrail
import Testing

/// The scanner skips a value the decoder does not read with `skipsValue` (one loop, no call per
/// value) and reads it again with the recursive grammar (`skipValueChecked`) only when that stops
/// short, for the failure's exact offset. So `skipsValue` must never pass what the grammar rejects,
/// must end where it ends, and (within its nesting bound) must reject only what it rejects.
@Suite struct SkipTests {
    /// Pieces of valid and broken JSON, glued at random into values.
    static let scalars: [String] = [
        #""""#, #""a""#, #""a long string that spans more than sixteen bytes""#, #""esc\"aped""#, #""\\""#,
        #""\u00e9 and \/ and \n""#, #""caf\#u{E9}""#, "\"ctl\u{01}\"", #""unterminated"#, #""ends in \"#,
        "0", "-0", "12", "-3.25", "1e9", "2E-7", "0.5e+3", "01", "-", "1.", "1e", ".5", "+1", "1.2.3",
        "true", "false", "null", "tru", "nul", "falsey", "True",
    ]
    static let spaces = ["", " ", "\n", "\t ", "\r\n  "]

    /// A random value of nesting at most `depth`, sometimes broken.
    static func value(_ random: inout SeededRandom, depth: Int) -> String {
        let space = spaces.randomElement(using: &random)!
        switch Int.random(in: 0..<10, using: &random) {
        case 0..<4 where depth > 0:
            let count = Int.random(in: 0...4, using: &random)
            var members: [String] = []
            for k in 0..<count {
                let key = Int.random(in: 0..<12, using: &random) == 0 ? "1" : #""k\#(k)""#
                let colon = Int.random(in: 0..<15, using: &random) == 0 ? "" : ":"
                members.append(space + key + space + colon + value(&random, depth: depth - 1))
            }
            let comma = Int.random(in: 0..<15, using: &random) == 0 ? ",," : ","
            let close = Int.random(in: 0..<20, using: &random) == 0 ? "]" : "}"
            return "{" + members.joined(separator: comma) + space + close
        case 4..<7 where depth > 0:
            let count = Int.random(in: 0...4, using: &random)
            let elements = (0..<count).map { _ in space + value(&random, depth: depth - 1) + space }
            let close = Int.random(in: 0..<20, using: &random) == 0 ? "}" : "]"
            return "[" + elements.joined(separator: ",") + close
        default:
            return space + scalars.randomElement(using: &random)!
        }
    }

    /// Both skips from the start of `text`: passed, and where each ended.
    static func skips(_ text: [UInt8], maxDepth: Int, depth: Int = 0) -> (fast: Int?, slow: Int?, combined: Int?) {
        text.withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
            var fast = JSONScanner(base, count: buffer.count, maxDepth: maxDepth)
            var slow = fast
            var combined = fast
            let passed = fast.skipsValue(depth: depth)
            #expect(passed || fast.pos == 0, "skipsValue moved on a failure")
            var slowEnd: Int?
            do throws(ScanFailure) { try slow.skipValueChecked(depth: depth); slowEnd = slow.pos } catch {}
            var combinedEnd: Int?
            do throws(ScanFailure) { try combined.skipValue(depth: depth); combinedEnd = combined.pos } catch {}
            return (passed ? fast.pos : nil, slowEnd, combinedEnd)
        }
    }

    @Test func agreesWithTheRecursiveGrammar() {
        var random = SeededRandom(seed: 0x51C1_9ED0)
        var outcomes = (passed: 0, rejected: 0)
        for _ in 0..<6000 {
            var text = Array(Self.value(&random, depth: 5).utf8)
            // Sometimes cut short, or followed by more.
            switch Int.random(in: 0..<6, using: &random) {
            case 0 where !text.isEmpty: text.removeLast(Int.random(in: 1...text.count, using: &random))
            case 1: text += Array(#","x":1}"#.utf8)
            default: break
            }
            let (fast, slow, combined) = Self.skips(text, maxDepth: 64)
            let shown = String(decoding: text, as: UTF8.self)
            #expect(fast == slow, "\(shown)")
            #expect(combined == slow, "\(shown)")
            if slow == nil { outcomes.rejected += 1 } else { outcomes.passed += 1 }
        }
        // Both kinds are exercised.
        #expect(outcomes.passed > 1000)
        #expect(outcomes.rejected > 1000)
    }

    /// Nesting around the limits: `maxDepth` itself, and `skipsValue`'s own bound of 62 levels, past
    /// which it declines and the recursive grammar decides.
    @Test func nestingLimits() {
        for maxDepth in [1, 2, 8, 61, 62, 63, 64, 100] {
            for levels in [0, 1, 2, 7, 8, 9, 60, 61, 62, 63, 64, 65, 99, 100, 101] {
                for open in ["[", #"{"a":"#] {
                    let close = open == "[" ? "]" : "}"
                    let text = Array((String(repeating: open, count: levels) + "1" + String(repeating: close, count: levels)).utf8)
                    for depth in [0, 1] {
                        let (fast, slow, combined) = Self.skips(text, maxDepth: maxDepth, depth: depth)
                        let fits = depth + levels <= maxDepth
                        #expect((slow != nil) == fits, "\(levels) levels at \(depth), maxDepth \(maxDepth)")
                        #expect(combined == slow, "\(levels) levels at \(depth), maxDepth \(maxDepth)")
                        if levels <= 62 { #expect(fast == slow, "\(levels) levels at \(depth), maxDepth \(maxDepth)") }
                        if fast != nil { #expect(fast == slow) }
                    }
                }
            }
        }
    }

    /// A failure inside a skipped value keeps its kind and offset (the recursive grammar names it).
    @Test func failuresKeepTheirOffsets() {
        let decoder = CloudTrailDecoder(limits: .init(maxDepth: 4))
        let cases: [(String, CloudTrailDecodingError.Reason, Int)] = [
            (#"{"eventTime":"2026-03-02T08:00:00Z","requestParameters":{"a":[1,2,}]}}"#, .notJSON, 66),
            (#"{"eventTime":"2026-03-02T08:00:00Z","requestParameters":{"a":tru}}"#, .notJSON, 64),
            (#"{"eventTime":"2026-03-02T08:00:00Z","requestParameters":{"a":[[[1]]]}}"#, .tooDeep, 63),
        ]
        for (text, reason, offset) in cases {
            let result = decoder.decode(Array(text.utf8))
            #expect(result.events.isEmpty, "\(text)")
            #expect(result.errors.first?.reason == reason, "\(text)")
            #expect(result.errors.first?.byteOffset == offset, "\(text)")
        }
    }
}

/// Keys are tried first from a hint, the key listed after the previous one: whatever the hint, the
/// answer is the table's.
@Suite struct KeyHintTests {
    @Test func everyHintGivesTheTablesAnswer() {
        for (name, table) in KnownKeysTests.tables {
            for (key, field) in table.keys {
                let bytes = [UInt8(ascii: "\"")] + key + Array(#"":"value"}"#.utf8)
                for start in 0...(table.keys.count + 1) {
                    var hint = start
                    let hit = bytes.withUnsafeBufferPointer { table.match($0.baseAddress!, at: 1, end: $0.count, hint: &hint) }
                    #expect(hit?.length == key.count + 2, "\(name): \(String(decoding: key, as: UTF8.self)) from \(start)")
                    #expect(hit?.field == field, "\(name): \(String(decoding: key, as: UTF8.self)) from \(start)")
                    // The hint then names the key listed next.
                    let index = table.keys.firstIndex { $0.key == key }!
                    #expect(hint == index + 1, "\(name): \(String(decoding: key, as: UTF8.self)) from \(start)")
                }
            }
        }
    }

    /// Bytes that are not the hinted key (a near miss of it) are not taken for it.
    @Test func aNearMissOfTheHintedKeyIsNotTaken() {
        for (name, table) in KnownKeysTests.tables {
            for (index, (key, _)) in table.keys.enumerated() {
                for i in key.indices {
                    var changed = key
                    changed[i] ^= 0x20
                    let bytes = [UInt8(ascii: "\"")] + changed + Array(#"":"value"}"#.utf8)
                    var hint = index
                    let hinted = bytes.withUnsafeBufferPointer { table.match($0.baseAddress!, at: 1, end: $0.count, hint: &hint) }
                    let plain = bytes.withUnsafeBufferPointer { table.match($0.baseAddress!, at: 1, end: $0.count) }
                    #expect(hinted?.length == plain?.length && hinted?.field == plain?.field,
                            "\(name): \(String(decoding: changed, as: UTF8.self))")
                }
            }
        }
    }
}
