// Strict parsing and RFC 5952 formatting of `sourceIPAddress`, straight from bytes: the decoder
// classifies every event's address, so this must not allocate or go through Foundation.
extension SourceAddress {
    /// Classifies `sourceIPAddress` text. Anything that is not strictly an address is `.notAnAddress`.
    ///
    /// IPv4 is a dotted quad without leading zeros (`035.1.2.3` is not an address: some stacks read it
    /// as octal). IPv6 accepts every RFC 4291 text form (`::`, embedded IPv4), no zone, no brackets.
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is its IPv4 address, so one caller is one address.
    public init(parsing text: String) {
        var text = text
        self = text.withUTF8 { SourceAddress(parsingUTF8: UnsafeRawBufferPointer($0)) }
    }

    /// The same classification over the raw UTF-8 bytes of the text.
    public init(parsingUTF8 bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty, bytes.count <= 45 else {
            self = .notAnAddress
            return
        }
        let p = base.assumingMemoryBound(to: UInt8.self)
        let n = bytes.count
        var hasColon = false
        for i in 0..<n where p[i] == UInt8(ascii: ":") { hasColon = true; break }
        if !hasColon {
            if let v = AddressParser.ipv4(p, 0, n) { self = .ipv4(v) } else { self = .notAnAddress }
            return
        }
        guard let (high, low) = AddressParser.ipv6(p, n) else { self = .notAnAddress; return }
        if high == 0 && low >> 32 == 0xFFFF {
            self = .ipv4(UInt32(truncatingIfNeeded: low))
        } else {
            self = .ipv6(high: high, low: low)
        }
    }

    /// Whether this is an IP address (the only kind of `sourceIPAddress` the rules count).
    public var isAddress: Bool {
        if case .notAnAddress = self { return false }
        return true
    }

    public var canonicalText: String {
        switch self {
        case .ipv4(let v):
            return String(unsafeUninitializedCapacity: 15) { buf in
                var n = 0
                for shift in [24, 16, 8, 0] as [UInt32] {
                    if shift != 24 { buf[n] = UInt8(ascii: "."); n += 1 }
                    n = AddressParser.writeDecimal(UInt8(truncatingIfNeeded: v >> shift), into: buf, at: n)
                }
                return n
            }
        case .ipv6(let high, let low):
            return AddressParser.formatIPv6(high: high, low: low)
        case .notAnAddress:
            return ""
        }
    }
}

enum AddressParser {
    /// A strict dotted quad in `p[start..<end]`: four decimal octets, no leading zeros, nothing else.
    @inline(__always)
    static func ipv4(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> UInt32? {
        var value: UInt32 = 0
        var i = start
        for part in 0..<4 {
            if part > 0 {
                guard i < end, p[i] == UInt8(ascii: ".") else { return nil }
                i += 1
            }
            let s = i
            var octet: UInt32 = 0
            while i < end, i - s < 3 {
                let d = p[i] &- UInt8(ascii: "0")
                guard d < 10 else { break }
                octet = octet * 10 + UInt32(d)
                i += 1
            }
            let digits = i - s
            guard digits > 0, octet <= 255, !(digits > 1 && p[s] == UInt8(ascii: "0")) else { return nil }
            value = value << 8 | octet
        }
        return i == end ? value : nil
    }

    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt16? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt16(c &- UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt16(c &- UInt8(ascii: "a") &+ 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt16(c &- UInt8(ascii: "A") &+ 10)
        default: return nil
        }
    }

    /// RFC 4291 section 2.2 text forms, without zone index.
    static func ipv6(_ p: UnsafePointer<UInt8>, _ end: Int) -> (UInt64, UInt64)? {
        var groups = SIMD8<UInt16>()
        var n = 0
        var gap = -1  // index in `groups` where "::" stands
        var i = 0
        if end >= 2, p[0] == UInt8(ascii: ":") {
            guard p[1] == UInt8(ascii: ":") else { return nil }
            gap = 0
            i = 2
        }
        while i < end {
            let s = i
            var v: UInt16 = 0
            while i < end, i - s < 5, let h = hexValue(p[i]) {
                v = v << 4 | h
                i += 1
            }
            let digits = i - s
            guard digits > 0 else { return nil }
            if i < end, p[i] == UInt8(ascii: ".") {
                guard n <= 6, let v4 = ipv4(p, s, end) else { return nil }
                groups[n] = UInt16(truncatingIfNeeded: v4 >> 16)
                groups[n + 1] = UInt16(truncatingIfNeeded: v4)
                n += 2
                i = end
                break
            }
            guard digits <= 4, n < 8 else { return nil }
            groups[n] = v
            n += 1
            if i == end { break }
            guard p[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            if i < end, p[i] == UInt8(ascii: ":") {
                guard gap < 0 else { return nil }
                gap = n
                i += 1
            } else if i == end {
                return nil
            }
        }
        if gap >= 0 {
            guard n <= 7 else { return nil }
            let shift = 8 - n
            var k = n - 1
            while k >= gap {
                groups[k + shift] = groups[k]
                groups[k] = 0
                k -= 1
            }
        } else {
            guard n == 8 else { return nil }
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for k in 0..<4 { high = high << 16 | UInt64(groups[k]) }
        for k in 4..<8 { low = low << 16 | UInt64(groups[k]) }
        return (high, low)
    }

    @inline(__always)
    static func writeDecimal(_ v: UInt8, into buf: UnsafeMutableBufferPointer<UInt8>, at n: Int) -> Int {
        var n = n
        if v >= 100 { buf[n] = UInt8(ascii: "0") + v / 100; n += 1 }
        if v >= 10 { buf[n] = UInt8(ascii: "0") + v / 10 % 10; n += 1 }
        buf[n] = UInt8(ascii: "0") + v % 10
        return n + 1
    }

    /// RFC 5952 section 4: lowercase, no leading zeros, the first longest run (>= 2) of zero groups as `::`.
    static func formatIPv6(high: UInt64, low: UInt64) -> String {
        var groups = SIMD8<UInt16>()
        for k in 0..<4 {
            groups[k] = UInt16(truncatingIfNeeded: high >> UInt64(48 - 16 * k))
            groups[k + 4] = UInt16(truncatingIfNeeded: low >> UInt64(48 - 16 * k))
        }
        var bestStart = -1
        var bestLength = 1
        var k = 0
        while k < 8 {
            if groups[k] == 0 {
                var e = k
                while e < 8, groups[e] == 0 { e += 1 }
                if e - k > bestLength { bestStart = k; bestLength = e - k }
                k = e
            } else {
                k += 1
            }
        }
        let hex: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 39) { buf in
            var n = 0
            var k = 0
            while k < 8 {
                if k == bestStart {
                    buf[n] = UInt8(ascii: ":"); n += 1
                    if k == 0 { buf[n] = UInt8(ascii: ":"); n += 1 }
                    k += bestLength
                    continue
                }
                let g = groups[k]
                var started = false
                for shift in stride(from: 12, through: 0, by: -4) {
                    let d = Int(g >> UInt16(shift) & 0xF)
                    if d != 0 || started || shift == 0 {
                        buf[n] = hex.utf8Start[d]; n += 1
                        started = true
                    }
                }
                if k < 7 { buf[n] = UInt8(ascii: ":"); n += 1 }
                k += 1
            }
            return n
        }
    }
}
