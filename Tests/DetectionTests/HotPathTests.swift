import CloudTrail
import Testing

@testable import Detection

/// The fast paths of the rule, the codec and the evidence lists agree with the plain definitions.
@Suite("Hot paths agree with their plain definitions")
struct HotPathTests {
    static func lower(_ b: UInt8) -> UInt8 { (65...90).contains(b) ? b | 0x20 : b }

    /// The definition `isExcluded` implements: some needle is an ASCII-case-insensitive substring.
    static func naiveExcluded(_ agent: String, _ needles: [String]) -> Bool {
        let hay = Array(agent.utf8).map(lower)
        return needles.contains { needle in
            let n = Array(needle.utf8).map(lower)
            guard !n.isEmpty, n.count <= hay.count else { return false }
            return (0...(hay.count - n.count)).contains { Array(hay[$0..<($0 + n.count)]) == n }
        }
    }

    @Test func userAgentSearchMatchesTheDefinition() {
        var random = SeededRandom(seed: 7)
        // Letters and the bytes that OR-ing 0x20 maps onto letters' neighbours (`@`, `[`, `` ` ``, `{`).
        let alphabet = Array("aAbBtTeErRfFoOmM@[`{/ 0é".utf8)
        for _ in 0..<20_000 {
            let needles = (0..<Int.random(in: 1...3, using: &random)).map { _ in
                String(decoding: (0..<Int.random(in: 0...4, using: &random)).map { _ in alphabet.randomElement(using: &random)! },
                       as: UTF8.self)
            }
            let agent = String(decoding: (0..<Int.random(in: 0...40, using: &random)).map { _ in
                alphabet.randomElement(using: &random)!
            }, as: UTF8.self)
            var configuration = RuleConfiguration.seed
            configuration.excludedUserAgentSubstrings = needles
            let rule = DetectionRule(configuration)
            #expect(rule.isExcluded(userAgent: agent) == Self.naiveExcluded(agent, needles), "\(needles) in \(agent)")
        }
    }

    @Test(arguments: [
        ("APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0", true),
        ("aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023", false),
        ("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxterraforM", true),
        ("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxterrafor", false),
        ("TERRAFORMxxxxxxxxxxxxxxx", true), ("ansiblE", true), ("pulum", false), ("", false),
    ])
    func seedNeedlesAtEveryPosition(_ agent: String, _ excluded: Bool) {
        #expect(DetectionRule().isExcluded(userAgent: agent) == excluded)
        #expect(Self.naiveExcluded(agent, RuleConfiguration.seed.excludedUserAgentSubstrings) == excluded)
    }

    /// The rule tests identity types, event sources and key prefixes on UTF-8 bytes; the answer must
    /// be `String`'s (canonical equivalence, `Character` boundaries) for every mix of ASCII and not.
    @Test func byteSetsAndPrefixesAnswerAsStringsDo() {
        let candidates = [
            "", "IAMUser", "iamuser", "IAMUser ", "AssumedRole", "Kelvin", "\u{212A}elvin", "Caf\u{E9}", "Cafe\u{301}",
            "ASIA", "ASIAXYZ", "ASIA\u{301}XYZ", "AKIA1", "\u{C5}X", "A\u{30A}X", "AS\r", "AS\r\nX", "AS\rX", "s3.amazonaws.com",
        ]
        let sets: [Set<String>] = [
            [], ["IAMUser", "AssumedRole"], ["Kelvin", "IAMUser"], ["Caf\u{E9}", "IAMUser"], ["\u{212A}elvin"], ["", "ASIA"],
            ["s3.amazonaws.com", "sts.amazonaws.com"],
        ]
        let prefixLists: [[String]] = [[], ["ASIA"], ["ASIA", "AKIA"], ["\u{C5}"], ["A"], [""], ["AS\r"], ["Caf"]]
        for candidate in candidates {
            var text = candidate
            text.withUTF8 { bytes in
                for set in sets {
                    #expect(TextSet(set).contains(bytes) == set.contains(candidate), "\(set) contains \(candidate.debugDescription)")
                }
                for prefixes in prefixLists {
                    #expect(TextPrefixes(prefixes).hasPrefix(of: bytes) == prefixes.contains { candidate.hasPrefix($0) },
                            "\(prefixes) prefixes \(candidate.debugDescription)")
                }
            }
        }
    }

    @Test func stringOrderIsTheOrderOfTheUTF8Bytes() {
        var random = SeededRandom(seed: 11)
        let pieces = ["", "a", "b", "ab", "é", "😀", "arn:aws:sts::123456789012:", "assumed-role/", "x", "\u{7F}", "\u{80}"]
        var strings: [String] = []
        for _ in 0..<400 {
            strings.append((0..<Int.random(in: 0...5, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined())
        }
        for a in strings {
            for b in strings.prefix(100) {
                #expect(String.precedes(a, b) == a.utf8.lexicographicallyPrecedes(b.utf8), "\(a) vs \(b)")
            }
        }
    }

    @Test func everyDecodingEntryPointReadsTheSame() throws {
        var o = observe(makeEvent(time: baseTime, address: ipv4("192.0.2.1")))
        o.userAgent = "agent/1.0 (Dún Laoghaire) 😀"
        o.enrichment = AddressEnrichment(asn: 64_512, asOrganization: "EXAMPLE", countryCode: "IE", city: "Dún Laoghaire")
        let bytes = o.encode()
        #expect(try Observation(decoding: bytes) == o)
        #expect(try Observation(decoding: bytes[...]) == o)
        #expect(try bytes.withUnsafeBytes { try Observation(decoding: $0) } == o)
        #expect(try Observation(decoding: bytes.lazy.map { $0 }) == o, "a non-contiguous collection")
        let empty: [UInt8] = []
        #expect(throws: ObservationDecodingError.truncated) { try empty.withUnsafeBytes { try Observation(decoding: $0) } }
    }

    @Test func invalidUTF8InAnyStringIsRejected() throws {
        let o = observe(makeEvent(time: baseTime, address: ipv4("192.0.2.1")))
        let bytes = o.encode()
        // Corrupt one byte of the user agent's text, in place, with each kind of bad UTF-8.
        let agent = Array(o.userAgent!.utf8)
        let at = try #require(bytes.indices.first { Array(bytes[$0..<min(bytes.count, $0 + agent.count)]) == agent })
        for bad: [UInt8] in [[0xFF], [0x80], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]] {
            var mutated = bytes
            mutated.replaceSubrange(at..<(at + bad.count), with: bad)
            #expect(throws: ObservationDecodingError.invalidUTF8) { try Observation(decoding: mutated) }
            #expect(throws: ObservationDecodingError.invalidUTF8) { try mutated.withUnsafeBytes { try Observation(decoding: $0) } }
        }
    }

    @Test func extremeValuesRoundTrip() throws {
        // The largest varints and every optional string: what `encode` reserves up front must hold it all.
        var o = observe(makeEvent(time: baseTime, address: .ipv6(high: .max, low: .max)))
        o.origin.offset = .min
        o.origin.partition = .min
        o.groupingKey = "something else"
        o.enrichment = AddressEnrichment(asn: .max, asOrganization: "EXAMPLE", countryCode: "IE", city: "Dún Laoghaire")
        #expect(try Observation(decoding: o.encode()) == o)
    }
}
