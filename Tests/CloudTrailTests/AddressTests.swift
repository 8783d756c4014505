import Testing
@testable import CloudTrail

@Suite struct AddressTests {
    @Test(arguments: [
        ("198.51.100.23", "198.51.100.23"),
        ("0.0.0.0", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.255"),
        ("10.0.0.1", "10.0.0.1"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("::FFFF:cb00:7109", "203.0.113.9"),
        ("0:0:0:0:0:ffff:203.0.113.9", "203.0.113.9"),
    ])
    func ipv4(text: String, canonical: String) {
        let address = SourceAddress(parsing: text)
        guard case .ipv4 = address else { Issue.record("\(text) → \(address)"); return }
        #expect(address.canonicalText == canonical)
    }

    @Test(arguments: [
        ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:db8:85a3::8a2e:370:7334"),
        ("2001:DB8::1", "2001:db8::1"),
        ("::1", "::1"),
        ("::", "::"),
        ("1::", "1::"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  // first of two equal runs
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  // a single zero group is not shortened
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),  // the longest run wins
        ("::192.0.2.33", "::c000:221"),  // IPv4-compatible (deprecated) stays IPv6
        ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
        ("fe80::1:2:3:4", "fe80::1:2:3:4"),
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
        ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
        ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
    ])
    func ipv6(text: String, canonical: String) {
        let address = SourceAddress(parsing: text)
        guard case .ipv6 = address else { Issue.record("\(text) → \(address)"); return }
        #expect(address.canonicalText == canonical)
        // The canonical form is itself an address with the same value.
        #expect(SourceAddress(parsing: canonical) == address)
    }

    @Test(arguments: [
        "", "ec2.amazonaws.com", "AWS Internal", "035.249.1.2", "1.2.3.04", "1.2.3", "1.2.3.4.5", "256.1.1.1",
        "1.2.3.4 ", " 1.2.3.4", "1..2.3", "1.2.3.", "+1.2.3.4", "1.2.3.4/32", "0x7f.0.0.1", "1234.1.1.1",
        "fe80::1%eth0", "[::1]", ":::", "1:::2", "1::2::3", ":1::2", "1::2:", "12345::1", "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8::", "::1.2.3.04", "::1.2.3", "1.2.3.4::", "::g", "1:2:3:4:5:6:7:1.2.3.4",
        "localhost", "١٢٣.1.1.1", "2001:db8::1\u{0}",
    ])
    func notAnAddress(text: String) {
        #expect(SourceAddress(parsing: text) == .notAnAddress)
        #expect(!SourceAddress(parsing: text).isAddress)
    }

    @Test func everyIPv4RoundTripsThroughText() {
        var random = SeededRandom(seed: 4)
        for _ in 0..<20_000 {
            let v = UInt32.random(in: .min ... .max, using: &random)
            let address = SourceAddress.ipv4(v)
            #expect(SourceAddress(parsing: address.canonicalText) == address)
        }
    }

    @Test func everyIPv6RoundTripsThroughText() {
        var random = SeededRandom(seed: 6)
        for _ in 0..<20_000 {
            // Sparse groups so that runs of zeros (and their compression) are common.
            var high: UInt64 = 0
            var low: UInt64 = 0
            for k in 0..<4 {
                if Bool.random(using: &random) { high |= UInt64.random(in: 0...0xFFFF, using: &random) << (16 * UInt64(k)) }
                if Bool.random(using: &random) { low |= UInt64.random(in: 0...0xFFFF, using: &random) << (16 * UInt64(k)) }
            }
            guard !(high == 0 && low >> 32 == 0xFFFF) else { continue }  // mapped: IPv4 by design
            let address = SourceAddress.ipv6(high: high, low: low)
            let text = address.canonicalText
            #expect(SourceAddress(parsing: text) == address, "\(text)")
            #expect(text == text.lowercased())
            #expect(!text.contains(":::"))
        }
    }
}
