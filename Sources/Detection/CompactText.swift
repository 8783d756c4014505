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
        // Sixteen lowercase hex digits per word; dashes at 8, 13, 18 and 23.
        @inline(__always) func word(_ ranges: [Range<Int>]) -> UInt64? {
            var value: UInt64 = 0
            for range in ranges {
                for i in range {
                    let digit = p[i] &- UInt8(ascii: "0")
                    let letter = p[i] &- UInt8(ascii: "a")
                    if digit < 10 {
                        value = value << 4 | UInt64(digit)
                    } else if letter < 6 {
                        value = value << 4 | UInt64(letter + 10)
                    } else {
                        return nil
                    }
                }
            }
            return value
        }
        guard let high = word([0..<8, 9..<13, 14..<18]), let low = word([19..<23, 24..<36]) else { return nil }
        return .uuid(high, low)
    }

    private static func upperAlphanumeric(_ s: UnsafeBufferPointer<UInt8>) -> CompactText? {
        guard s.count <= 20 else { return nil }
        var words: (UInt64, UInt64) = (0, 0)
        for i in 0..<20 {
            var code: UInt64 = 0
            if i < s.count {
                let byte = s[i]
                switch byte {
                // Digits before letters, as in ASCII: the packed words then compare as the text does.
                case UInt8(ascii: "0")...UInt8(ascii: "9"): code = UInt64(byte - UInt8(ascii: "0") + 1)
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): code = UInt64(byte - UInt8(ascii: "A") + 11)
                default: return nil
                }
            }
            if i < 10 { words.0 = words.0 << 6 | code } else { words.1 = words.1 << 6 | code }
        }
        return .upperAlphanumeric(words.0, words.1)
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
