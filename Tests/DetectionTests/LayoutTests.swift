import CloudTrail
import Testing

@testable import Detection

@Suite("Compact state")
struct LayoutTests {
    @Test func aOneEventWindowIsSmallInline() {
        // The dictionary slot of a one-event window (112 bytes of event, 16 of session context); the
        // benchmark measures the whole cost.
        #expect(MemoryLayout<WindowSlot>.stride <= 128, "\(MemoryLayout<WindowSlot>.stride)")
    }

    @Test(arguments: ["0b6e7f9a-2f4c-4d67-9a55-8f1e3c2b7a10", "ASIAEXAMPLEKEY000001", "ASIA2345", "", "AKIA",
                      "0B6E7F9A-2F4C-4D67-9A55-8F1E3C2B7A10", "ASIAEXAMPLEKEY0000012", "asia", "evt-1", "é",
                      "0b6e7f9a-2f4c-4d67-9a55-8f1e3c2b7a1g", "0b6e7f9a_2f4c-4d67-9a55-8f1e3c2b7a10"])
    func compactTextRoundTrips(_ text: String) {
        #expect(CompactText(text).string == text)
    }

    @Test func compactTextPacksTheCommonShapes() {
        if case .uuid = CompactText("0b6e7f9a-2f4c-4d67-9a55-8f1e3c2b7a10") {} else { Issue.record("uuid not packed") }
        if case .upperAlphanumeric = CompactText("ASIAEXAMPLEKEY000001") {} else { Issue.record("key not packed") }
        if case .text = CompactText("evt-1") {} else { Issue.record("text packed") }
    }

    /// The packing reads eight hex digits at a time (SWAR): it must accept and value exactly what a
    /// byte-by-byte reading does, for every byte value at every position of both shapes.
    @Test func packingAgreesWithTheByteByByteDefinition() {
        var inputs: [[UInt8]] = []
        let id = Array("0b6e7f9a-2f4c-4d67-9a55-8f1e3c2b7a10".utf8)
        let key = Array("ASIA2X7EXAMPLEKEY019".utf8)
        for base in [id, key] {
            for i in base.indices {
                for byte in 0...255 {
                    var text = base
                    text[i] = UInt8(byte)
                    inputs.append(text)
                }
            }
            for n in 0...base.count { inputs.append(Array(base.prefix(n))) }
        }
        var state: UInt64 = 7
        let alphabet = Array("0123456789abcdefABCDEFXYZ-:/@`gG".utf8)
        for _ in 0..<20_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let n = Int(state >> 59) + (state >> 58 & 1 == 0 ? 20 : 4)  // 4-35 or 20-51
            var text: [UInt8] = []
            for k in 0..<min(n, 36) {
                let bits = (state >> UInt64(k % 50)) ^ UInt64(k &* 40503)
                text.append(alphabet[Int(bits % UInt64(alphabet.count))])
            }
            inputs.append(text)
            var uuid = Array((0..<36).map { k in alphabet[Int((state >> UInt64(k)) & 15)] })
            for dash in [8, 13, 18, 23] { uuid[dash] = UInt8(ascii: "-") }
            inputs.append(uuid)
        }
        var packed = 0
        for text in inputs {
            let got = text.withUnsafeBufferPointer { CompactText.packed($0) }
            #expect(got == Self.byteByByte(text), "\(text)")
            if got != nil { packed += 1 }
        }
        #expect(packed > 20_000, "the inputs exercise the packed shapes")
    }

    /// The packing as first written: a byte at a time.
    static func byteByByte(_ s: [UInt8]) -> CompactText? {
        if s.count == 36, [8, 13, 18, 23].allSatisfy({ s[$0] == UInt8(ascii: "-") }) {
            var words: [UInt64] = []
            for range in [[0..<8, 9..<13, 14..<18], [19..<23, 24..<36]] {
                var value: UInt64 = 0
                for i in range.joined() {
                    switch s[i] {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | UInt64(s[i] - UInt8(ascii: "0"))
                    case UInt8(ascii: "a")...UInt8(ascii: "f"): value = value << 4 | UInt64(s[i] - UInt8(ascii: "a") + 10)
                    default: return nil
                    }
                }
                words.append(value)
            }
            return .uuid(words[0], words[1])
        }
        guard s.count <= 20 else { return nil }
        var words: (UInt64, UInt64) = (0, 0)
        for i in 0..<20 {
            var code: UInt64 = 0
            if i < s.count {
                switch s[i] {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): code = UInt64(s[i] - UInt8(ascii: "0") + 1)
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): code = UInt64(s[i] - UInt8(ascii: "A") + 11)
                default: return nil
                }
            }
            if i < 10 { words.0 = words.0 << 6 | code } else { words.1 = words.1 << 6 | code }
        }
        return .upperAlphanumeric(words.0, words.1)
    }

    @Test func stringTableReusesIDsOfClosedWindows() {
        var table = StringTable()
        let a = table.retain("aws-cli/2.15.0 Python/3.11.6 Linux/6.1")
        let b = table.retain("aws-cli/2.15.0 Python/3.11.6 Linux/6.1")
        #expect(a == b)
        #expect(table.retain(nil) == 0)
        table.release(a)
        #expect(table.count == 1)
        table.release(b)
        #expect(table.count == 0)
        let c = table.retain("Boto3/1.34")
        #expect(c == a, "freed id reused")
        #expect(table[c] == "Boto3/1.34")
    }

    @Test func closedWindowsGiveTheirStringsBack() {
        var detector = WindowedDetector()
        let now = at(baseTime)
        for i in 0..<50 {
            let o = observe(makeEvent(time: baseTime + Int64(i) * 1000, address: ipv4("192.0.2.1"),
                                      arn: "arn:aws:iam::1:user/u\(i)", userAgent: "agent-\(i)-with-a-long-name"))
            _ = detector.process(o, partition: 0, offset: Int64(i), now: now)
        }
        #expect(detector.tableCount > 50)
        _ = detector.advance(partition: 0, externalWatermark: at(baseTime + 3_600_000), now: now)
        #expect(detector.tableCount == 0)
        _ = detector.process(observe(makeEvent(time: baseTime + 4_000_000, address: ipv4("192.0.2.1"))), partition: 1, offset: 0, now: now)
        #expect(detector.tableCount > 0)
        detector.drop(partition: 1)
        #expect(detector.tableCount == 0)
    }

    @Test func oneEventWindowsShareAndGiveBackTheirAddressesEnrichment() {
        var detector = WindowedDetector()
        let now = at(baseTime)
        func enriched(_ i: Int, time: Int64, partition: Int32) {
            var o = observe(makeEvent(time: time, address: ipv4("192.0.2.\(i % 2)"), arn: "arn:aws:iam::1:user/u\(i)"))
            o.enrichment = AddressEnrichment(asn: 64500, asOrganization: "EXAMPLE-NET-\(i % 2)", city: "Seattle")
            _ = detector.process(o, partition: partition, offset: Int64(i), now: now)
        }
        for i in 0..<10 { enriched(i, time: baseTime, partition: 0) }
        #expect(detector.enrichmentCount == 2)  // one entry per address, not per window
        #expect(detector.distinctEnrichmentCount == 2)
        enriched(10, time: baseTime + 3_600_000, partition: 1)
        _ = detector.advance(partition: 0, externalWatermark: at(baseTime + 3_600_000), now: now)
        #expect(detector.enrichmentCount == 1)  // partition 1's window still holds its address's entry
        detector.drop(partition: 1)
        #expect(detector.enrichmentCount == 0 && detector.distinctEnrichmentCount == 0)
    }

    @Test func aReloadedAddressTakesItsNewEnrichment() {
        var table = EnrichmentTable()
        let address = ipv4("198.51.100.20")
        table.retain(address, AddressEnrichment(asOrganization: "EXAMPLE-VPS"))
        table.retain(address, AddressEnrichment(asOrganization: "EXAMPLE-VPS-RENAMED"))
        #expect(table[address]?.asOrganization == "EXAMPLE-VPS-RENAMED")
        #expect(table.count == 1 && table.distinctValues == 1)
        table.release(address)
        #expect(table[address] != nil)
        table.release(address)
        #expect(table[address] == nil && table.count == 0 && table.distinctValues == 0)
    }
}

/// The windows' key index: open addressing over bytes in an arena (`KeyIndex`).
@Suite("Window key index")
struct KeyIndexTests {
    @Test func findsEveryKeyItHoldsAndNoOther() {
        var random = SeededRandom(seed: 3)
        // Keys that are prefixes of each other, empty, equal in length, and enough to grow many times.
        var keys = ["", "a", "ab", "abc", "arn:aws:iam::1:user/u", "arn:aws:iam::1:user/u1", "\u{E9}", "e\u{301}"]
        for n in 0..<5_000 { keys.append("arn:aws:sts::123456789012:assumed-role/r/\(n)-\(random.next() % 1000)") }
        keys = Array(distinctInOrder(keys))
        var index = KeyIndex()
        for (position, key) in keys.enumerated() {
            var bytes = key
            #expect(bytes.withUTF8 { index.find($0) } == nil, "not held before")
            bytes.withUTF8 { index.append($0) }
            #expect(index.count == position + 1)
        }
        for (position, key) in keys.enumerated() {
            var bytes = key
            #expect(bytes.withUTF8 { index.find($0) } == Int32(position), "\(key)")
            #expect(index.key(at: Int32(position)) == key)
        }
        for absent in ["abcd", "b", "arn:aws:iam::1:user/u2", " ", "arn:aws:sts::123456789012:assumed-role/r/"] {
            var bytes = absent
            #expect(bytes.withUTF8 { index.find($0) } == nil, "\(absent)")
        }
    }

    /// Distinct in order of first appearance.
    private func distinctInOrder(_ keys: [String]) -> [String] {
        var seen = Set<[UInt8]>()
        return keys.filter { seen.insert(Array($0.utf8)).inserted }
    }
}
