/// An identifier stored without a heap allocation when it has a known shape: a lowercase UUID
/// (CloudTrail event ids) or up to 20 characters of `A-Z0-9` (access key ids). Swift strings
/// longer than 15 bytes live on the heap; these two are the per-event strings every window holds.
enum CompactText: Sendable, Hashable {
    case uuid(UInt64, UInt64)
    /// 6 bits per character (0 ends the text), up to 20 characters over both words.
    case upperAlphanumeric(UInt64, UInt64)
    case text(String)

    init(_ string: String) {
        var copy = string
        self = copy.withUTF8 { Self.packed($0) } ?? .text(string)
    }

    /// From UTF-8 bytes lent in place: a string is made only for text of neither shape.
    init(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        self = Self.packed(bytes) ?? .text(String(decoding: bytes, as: UTF8.self))
    }

    static func packed(_ bytes: UnsafeBufferPointer<UInt8>) -> CompactText? {
        uuid(bytes) ?? upperAlphanumeric(bytes)
    }

    var string: String {
        switch self {
        case .uuid(let high, let low):
            let hex = Array("0123456789abcdef".utf8)
            var out: [UInt8] = []
            out.reserveCapacity(36)
            for i in 0..<32 {
                if i == 8 || i == 12 || i == 16 || i == 20 { out.append(UInt8(ascii: "-")) }
                let word = i < 16 ? high : low
                out.append(hex[Int(word >> UInt64((15 - i % 16) * 4) & 15)])
            }
            return String(decoding: out, as: UTF8.self)
        case .upperAlphanumeric(let high, let low):
            var out: [UInt8] = []
            for i in 0..<20 {
                let word = i < 10 ? high : low
                let code = UInt8(truncatingIfNeeded: word >> UInt64((9 - i % 10) * 6)) & 63
                if code == 0 { break }
                out.append(code <= 10 ? UInt8(ascii: "0") + code - 1 : UInt8(ascii: "A") + code - 11)
            }
            return String(decoding: out, as: UTF8.self)
        case .text(let s):
            return s
        }
    }

    private static func uuid(_ s: UnsafeBufferPointer<UInt8>) -> CompactText? {
        let dash = UInt8(ascii: "-")
        guard s.count == 36, let p = s.baseAddress, p[8] == dash, p[13] == dash, p[18] == dash, p[23] == dash else {
            return nil
        }
        // Sixteen lowercase hex digits per word, eight at a time; dashes at 8, 13, 18 and 23.
        let raw = UnsafeRawPointer(p)
        @inline(__always) func eight(_ at: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        @inline(__always) func four(_ at: Int) -> UInt64 {
            UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
        }
        guard let a = hexDigits(eight(0)), let b = hexDigits(four(9) | four(14) << 32),
              let c = hexDigits(four(19) | four(24) << 32), let d = hexDigits(eight(28)) else { return nil }
        return .uuid(a << 32 | b, c << 32 | d)
    }

    private static let byteOnes: UInt64 = 0x0101_0101_0101_0101
    private static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// The high bit of each byte of `x` that lies in `lo...hi`, for bytes below 0x80: the high bit of
    /// b + (0x80 - lo) is set iff b >= lo, and that of (0x80 + hi) - b iff b <= hi; neither carries
    /// or borrows into the next byte.
    @inline(__always)
    private static func bytes(of x: UInt64, from lo: UInt64, to hi: UInt64) -> UInt64 {
        (x &+ (0x80 &- lo) &* byteOnes) & ((0x80 &+ hi) &* byteOnes &- x) & highBits
    }

    /// Which bytes of `x` are digits and which are letters `lettersFrom...lettersTo` (the high bit of
    /// each), or nil unless every byte is one of the two.
    @inline(__always)
    private static func digitsAndLetters(_ x: UInt64, lettersFrom lo: UInt64, to hi: UInt64) -> (digits: UInt64, letters: UInt64)? {
        guard x & highBits == 0 else { return nil }
        let digits = bytes(of: x, from: 0x30, to: 0x39)
        let letters = bytes(of: x, from: lo, to: hi)
        return digits | letters == highBits ? (digits, letters) : nil
    }

    /// The value of eight lowercase hex digits, the first byte (the word's lowest) most significant;
    /// nil unless every byte is `0`-`9` or `a`-`f`. All eight at once (SWAR): event ids are read for
    /// every event, and a byte-by-byte scan was a large part of that (docs/performance.md).
    @inline(__always)
    static func hexDigits(_ x: UInt64) -> UInt64? {
        guard let (_, letters) = digitsAndLetters(x, lettersFrom: 0x61, to: 0x66) else { return nil }
        // Nibbles: the low four bits, plus 9 for a letter ('a' = 0x61 -> 10).
        var v = ((x & 0x0F0F_0F0F_0F0F_0F0F) &+ (letters >> 7) &* 9).byteSwapped
        v = (v | v >> 4) & 0x00FF_00FF_00FF_00FF
        v = (v | v >> 8) & 0x0000_FFFF_0000_FFFF
        return (v | v >> 16) & 0xFFFF_FFFF
    }

    /// The 6-bit codes of eight characters `0`-`9` (1-10) and `A`-`Z` (11-36), the first byte (the
    /// word's lowest) most significant, in the low 48 bits; nil unless every byte is one of them.
    @inline(__always)
    static func sixBitCodes(_ x: UInt64) -> UInt64? {
        guard let (digits, _) = digitsAndLetters(x, lettersFrom: 0x41, to: 0x5A) else { return nil }
        // A letter's code is byte - 0x36 ('A' -> 11), a digit's byte + 7 - 0x36 ('0' -> 1).
        var v = ((x &+ (digits >> 7) &* 7) &- 0x36 &* byteOnes).byteSwapped
        v = (v >> 2 & 0x0FC0_0FC0_0FC0_0FC0) | (v & 0x003F_003F_003F_003F)
        v = (v >> 4 & 0x00FF_F000_00FF_F000) | (v & 0x0000_0FFF_0000_0FFF)
        return (v >> 8 & 0xFFFF_FF00_0000) | (v & 0xFF_FFFF)
    }

    private static func upperAlphanumeric(_ s: UnsafeBufferPointer<UInt8>) -> CompactText? {
        let n = s.count
        guard n <= 20, let p = s.baseAddress else { return n == 0 ? .upperAlphanumeric(0, 0) : nil }
        if n == 20 {
            // An access key id (AKIA/ASIA and sixteen more): eight characters at a time.
            let raw = UnsafeRawPointer(p)
            guard let a = sixBitCodes(UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))),
                  let b = sixBitCodes(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))),
                  // The last four, as the top four of a word whose lower bytes are taken as "0000".
                  let c = sixBitCodes(UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self))) << 32 | 0x3030_3030)
            else { return nil }
            // a, b: codes of characters 0-7 and 8-15 (48 bits each); c's low 24 bits: characters 16-19.
            return .upperAlphanumeric(a << 12 | b >> 36, (b & (1 << 36 - 1)) << 24 | c & (1 << 24 - 1))
        }
        // Digits before letters, as in ASCII: the packed words then compare as the text does.
        @inline(__always) func code(_ byte: UInt8) -> UInt64 {
            let digit = byte &- UInt8(ascii: "0")
            let letter = byte &- UInt8(ascii: "A")
            return UInt64(digit < 10 ? digit &+ 1 : (letter < 26 ? letter &+ 11 : 0))
        }
        // Ten 6-bit codes per word, the first most significant; 0 pads (and ends) the text.
        var high: UInt64 = 0
        var low: UInt64 = 0
        var smallest: UInt64 = 63  // a code of 0: a byte of neither kind
        let split = Swift.min(n, 10)
        for i in 0..<split {
            let c = code(p[i])
            smallest = Swift.min(smallest, c)
            high = high << 6 | c
        }
        for i in split..<n {
            let c = code(p[i])
            smallest = Swift.min(smallest, c)
            low = low << 6 | c
        }
        guard smallest > 0 else { return nil }
        high <<= UInt64(6 * (10 - split))
        low <<= UInt64(6 * (10 - (n - split)))
        return .upperAlphanumeric(high, low)
    }
}

/// Event ids and access key ids as evidence: kept packed (no string on the heap to reach when
/// comparing), in the byte order of their text. Two packed values of one shape compare as integers:
/// a lowercase UUID's hex digits and dashes, and the 6-bit codes of an access key (digits before
/// letters, the end before both), sort as their bytes do.
extension CompactText: EvidenceValue {
    static func compare(_ a: CompactText, _ b: CompactText) -> Int {
        comparePacked(a, b) ?? String.compare(a.string, b.string)
    }

    /// The order of two packed values of one shape, as integers; nil when the shapes differ or
    /// either is free text (then only their text can say).
    @inline(__always)
    static func comparePacked(_ a: CompactText, _ b: CompactText) -> Int? {
        switch (a, b) {
        case let (.uuid(h1, l1), .uuid(h2, l2)), let (.upperAlphanumeric(h1, l1), .upperAlphanumeric(h2, l2)):
            return (h1, l1) < (h2, l2) ? -1 : ((h1, l1) == (h2, l2) ? 0 : 1)
        default:
            return nil
        }
    }

    var fingerprint: UInt64 { string.fingerprint }
}

/// Text lent as UTF-8 bytes, packed once, compared with kept `CompactText` values.
struct CompactProbe: EvidenceProbe {
    let bytes: UnsafeBufferPointer<UInt8>
    /// nil: text of neither packed shape.
    let packed: CompactText?

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        packed = CompactText.packed(bytes)
    }

    @inline(__always) func compare(to value: CompactText) -> Int {
        if let packed, let order = CompactText.comparePacked(packed, value) { return order }
        // Shapes differ, or free text: by bytes.
        return value.string.withUTF8Bytes { String.compareBytes(bytes, $0) }
    }

    var fingerprint: UInt64 { String.fingerprint(bytes) }
    var value: CompactText { packed ?? .text(String(decoding: bytes, as: UTF8.self)) }
}

/// A dictionary key of UTF-8 text that can be looked up with bytes lent in place: stored keys own
/// a `String`, a lookup wraps the bytes of the event being processed, so finding a window or a
/// shared string makes no `String`. Keys are equal when their bytes are (not by `String`'s
/// canonical equivalence: the detector takes text as CloudTrail wrote it).
struct TextKey: Hashable, @unchecked Sendable {
    private enum Storage {
        case owned(String)
        case lent(UnsafeBufferPointer<UInt8>)
    }
    private let storage: Storage

    init(_ string: String) { storage = .owned(string) }

    /// For a lookup only (never stored): valid while `bytes` is.
    init(lending bytes: UnsafeBufferPointer<UInt8>) { storage = .lent(bytes) }

    var string: String {
        switch storage {
        case .owned(let s): s
        case .lent(let bytes): String(decoding: bytes, as: UTF8.self)
        }
    }

    @inline(__always)
    func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        switch storage {
        case .owned(let s):
            return s.withUTF8Bytes(body)
        case .lent(let bytes):
            return body(bytes)
        }
    }

    static func == (a: TextKey, b: TextKey) -> Bool {
        a.withBytes { x in b.withBytes { y in String.compareBytes(x, y) == 0 } }
    }

    func hash(into hasher: inout Hasher) {
        withBytes { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// Strings shared by many windows (user agents, event sources, account ids, ...) stored once and
/// named by a 4-byte id; reference counted so that ids of closed windows are reused.
struct StringTable: Sendable {
    private var index: [TextKey: UInt32] = [:]
    private var strings: [String] = [""]
    private var counts: [UInt32] = [0]
    private var free: [UInt32] = []

    /// The heap it holds: its arrays, its index, and the strings too long to be stored inline.
    var estimatedBytes: Int {
        strings.count * MemoryLayout<String>.stride + counts.count * MemoryLayout<UInt32>.stride
            + free.count * MemoryLayout<UInt32>.stride + index.capacity * (MemoryLayout<TextKey>.stride + MemoryLayout<UInt32>.stride)
            + strings.reduce(0) { $0 + ($1.utf8.count > 15 ? 32 + $1.utf8.count : 0) }
    }

    /// Id 0 stands for nil.
    mutating func retain(_ text: String?) -> UInt32 {
        guard var text else { return 0 }
        return text.withUTF8 { retain(utf8: $0) }
    }

    /// The same for text lent as UTF-8 bytes: a string is made only for text not held yet.
    mutating func retain(utf8 bytes: UnsafeBufferPointer<UInt8>?) -> UInt32 {
        guard let bytes else { return 0 }
        if let id = index[TextKey(lending: bytes)] {
            counts[Int(id)] += 1
            return id
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let id: UInt32
        if let reused = free.popLast() {
            id = reused
            strings[Int(id)] = text
            counts[Int(id)] = 1
        } else {
            id = UInt32(strings.count)
            strings.append(text)
            counts.append(1)
        }
        index[TextKey(text)] = id
        return id
    }

    mutating func release(_ id: UInt32) {
        guard id != 0 else { return }
        counts[Int(id)] -= 1
        if counts[Int(id)] == 0 {
            index[TextKey(strings[Int(id)])] = nil
            strings[Int(id)] = ""
            free.append(id)
        }
    }

    subscript(id: UInt32) -> String? { id == 0 ? nil : strings[Int(id)] }

    /// Distinct strings held (for tests).
    var count: Int { index.count }
}
