/// Why a scan stopped before the end of a value; the decoder maps it to a `CloudTrailDecodingError`.
enum ScanFailure: Error {
    case syntax(offset: Int)
    case tooDeep(offset: Int)
}

/// A string value or key found in the input: its raw bytes between the quotes, still escaped.
/// Offsets are 32-bit (the scanner reads at most 4 GiB, see `JSONScanner.init`): an event's spans
/// (`RawEvent.Spans`) are then half the size, and they are copied with every event lent.
struct RawString {
    private var start32: UInt32
    private var end32: UInt32
    var hasEscapes: Bool
    /// All bytes below 0x80: such a string needs no UTF-8 validation.
    var isASCII: Bool = true

    init(start: Int, end: Int, hasEscapes: Bool, isASCII: Bool = true) {
        start32 = UInt32(truncatingIfNeeded: start)
        end32 = UInt32(truncatingIfNeeded: end)
        self.hasEscapes = hasEscapes
        self.isASCII = isASCII
    }

    var start: Int { Int(start32) }
    var end: Int { Int(end32) }
}

/// A forward-only JSON scanner over borrowed bytes.
///
/// It validates the structure of everything it passes (brackets, commas, literals, number grammar,
/// control characters in strings) but never materialises what it skips, so the large
/// `requestParameters`/`responseElements` objects of an event cost one pass and no allocation.
/// Escape sequences and UTF-8 are checked only in strings the decoder keeps (see `Unescape`).
/// Nesting is bounded by `maxDepth`, so recursion depth is bounded too.
struct JSONScanner {
    let base: UnsafePointer<UInt8>
    let end: Int
    var pos: Int
    let maxDepth: Int
    /// The string fields `finish` makes (the decoder's `fields`).
    var fields = CloudTrailDecoder.Fields.all
    /// `finish` checks events and keeps their places (`CloudTrailDecodeResult.lent`) instead of making them.
    var lending = false

    /// Reads at most the first 4 GiB of `count` bytes (a longer input ends there, a syntax error):
    /// `RawString` offsets are 32-bit. Kafka records and the decoder's `maxDecodedBytes` are far below.
    init(_ base: UnsafePointer<UInt8>, count: Int, maxDepth: Int) {
        self.base = base
        self.end = min(count, Int(UInt32.max))
        self.pos = 0
        self.maxDepth = maxDepth
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while pos < end {
            let c = base[pos]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            pos += 1
        }
    }

    /// The next non-whitespace byte, not consumed; nil at the end of input.
    @inline(__always)
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return pos < end ? base[pos] : nil
    }

    @inline(__always)
    mutating func expect(_ c: UInt8) throws(ScanFailure) {
        skipWhitespace()
        guard pos < end, base[pos] == c else { throw .syntax(offset: pos) }
        pos += 1
    }

    /// After a member or element: consumes `,` (true, more follow) or the closing byte (false).
    @inline(__always)
    mutating func nextOrClose(_ close: UInt8) throws(ScanFailure) -> Bool {
        skipWhitespace()
        guard pos < end else { throw .syntax(offset: pos) }
        let c = base[pos]
        pos += 1
        if c == UInt8(ascii: ",") { return true }
        if c == close { return false }
        throw .syntax(offset: pos - 1)
    }

    /// Scans a string at `pos` (which must be `"`), sixteen bytes at a time (SSE2 or NEON through the
    /// standard library's SIMD types), then eight at a time near the end of the input.
    @inline(__always)
    mutating func scanString() throws(ScanFailure) -> RawString {
        skipWhitespace()
        guard pos < end, base[pos] == UInt8(ascii: "\"") else { throw .syntax(offset: pos) }
        let start = pos + 1
        var i = start
        var escapes = false
        var high: UInt64 = 0  // OR of every byte passed, for the ASCII flag
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quotes = SIMD16<UInt8>(repeating: UInt8(ascii: "\""))
        let backslashes = SIMD16<UInt8>(repeating: UInt8(ascii: "\\"))
        let controls = SIMD16<UInt8>(repeating: 0x20)
        while true {
            find: do {
                #if _endian(little)  // the two words' bytes in lane order
                while i &+ 16 <= end {
                    let v = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<UInt8>.self)
                    // Lanes of 0xFF where a byte is '"', '\\' or below 0x20. Read as two words: the
                    // standard library's `any(_:)` is a reduction the optimiser does not always inline.
                    let flagged = unsafeBitCast((v .== quotes) .| (v .== backslashes) .| (v .< controls), to: SIMD2<UInt64>.self)
                    let bytes = unsafeBitCast(v, to: SIMD2<UInt64>.self)
                    if flagged[0] | flagged[1] == 0 {
                        high |= bytes[0] | bytes[1]
                        i &+= 16
                        continue
                    }
                    // The bytes before the first flagged one count for the ASCII flag.
                    if flagged[0] != 0 {
                        let bits = UInt64(flagged[0].trailingZeroBitCount)
                        high |= bytes[0] & ((1 &<< bits) &- 1)
                        i &+= Int(bits &>> 3)
                    } else {
                        let bits = UInt64(flagged[1].trailingZeroBitCount)
                        high |= bytes[0] | (bytes[1] & ((1 &<< bits) &- 1))
                        i &+= 8 &+ Int(bits &>> 3)
                    }
                    break find
                }
                #endif
                // SWAR: flag bytes equal to '"' or '\\' or below 0x20. The first flagged byte is always a
                // true hit (borrows only propagate upwards), which is the only one we use.
                while i + 8 <= end {
                    let w = UInt64(littleEndian: UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self))
                    let q = w ^ (ones &* 0x22)
                    let b = w ^ (ones &* 0x5C)
                    let hits = ((q &- ones) & ~q | (b &- ones) & ~b | (w &- ones &* 0x20) & ~w) & highs
                    if hits != 0 {
                        let n = hits.trailingZeroBitCount >> 3
                        // Bytes before the hit only (a shift by 64 would be undefined, so by halves).
                        high |= (w << (32 - UInt64(n) * 4)) << (32 - UInt64(n) * 4)
                        i += n
                        break find
                    }
                    high |= w
                    i += 8
                }
            }
            guard i < end else { throw .syntax(offset: i) }
            let c = base[i]
            if c == UInt8(ascii: "\"") {
                pos = i + 1
                return RawString(start: start, end: i, hasEscapes: escapes, isASCII: high & highs == 0)
            } else if c == UInt8(ascii: "\\") {
                escapes = true
                i += 2
            } else if c < 0x20 {
                throw .syntax(offset: i)
            } else {
                high |= UInt64(c)
                i += 1
            }
        }
    }

    /// Skips one value of any kind at `pos`; `depth` is the nesting of the container holding it.
    /// The iterative `skipsValue` passes every value the recursive grammar below accepts; when it
    /// stops short, the recursive one reads the value again from the start and names the failure.
    @inline(__always)
    mutating func skipValue(depth: Int) throws(ScanFailure) {
        if skipsValue(depth: depth) { return }
        try skipValueChecked(depth: depth)
    }

    /// The recursive skip: the reference grammar, and the exact offset and kind of a failure.
    mutating func skipValueChecked(depth: Int) throws(ScanFailure) {
        skipWhitespace()
        guard pos < end else { throw .syntax(offset: pos) }
        switch base[pos] {
        case UInt8(ascii: "\""):
            _ = try scanString()
        case UInt8(ascii: "{"):
            try skipObject(depth: depth + 1)
        case UInt8(ascii: "["):
            try skipArray(depth: depth + 1)
        case UInt8(ascii: "t"):
            try literal("true")
        case UInt8(ascii: "f"):
            try literal("false")
        case UInt8(ascii: "n"):
            try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try skipNumber()
        default:
            throw .syntax(offset: pos)
        }
    }

    /// Skips the value at `pos` in one loop (no call per value), with the grammar of
    /// `skipValueChecked`: true and `pos` past the value, or false and `pos` unchanged when the
    /// value is not valid JSON, nests deeper than `maxDepth` (or 62 levels below `depth`), or the
    /// input ends. Strings are passed sixteen bytes at a time without the ASCII flag the decoder's
    /// own strings need; escapes in them are not checked, as in `scanString`.
    mutating func skipsValue(depth: Int) -> Bool {
        let base = self.base
        let end = self.end
        let limit = min(maxDepth &- depth, 62)
        var i = pos
        var level = 0  // containers open inside this value
        var arrays: UInt64 = 0  // bit `level`: the container open at that level is an array
        @inline(__always) func space(_ i: inout Int) {
            while i < end, base[i] <= 0x20, base[i] == 0x20 || base[i] == 0x0A || base[i] == 0x0D || base[i] == 0x09 {
                i &+= 1
            }
        }
        /// A string at `i` (which is `"`): true and `i` past its closing quote. Sixteen bytes at a
        /// time: the first quote and the first backslash or control byte are found side by side
        /// (without a branch between the two words), so that the usual case, a quote first, waits
        /// only for the compare of the quotes.
        @inline(__always) func string(_ i: inout Int) -> Bool {
            var k = i &+ 1
            let quotes = SIMD16<UInt8>(repeating: UInt8(ascii: "\""))
            let backslashes = SIMD16<UInt8>(repeating: UInt8(ascii: "\\"))
            let controls = SIMD16<UInt8>(repeating: 0x20)
            #if _endian(little)
            while k &+ 16 <= end {
                let v = UnsafeRawPointer(base + k).loadUnaligned(as: SIMD16<UInt8>.self)
                let q = unsafeBitCast(v .== quotes, to: SIMD2<UInt64>.self)
                let e = unsafeBitCast((v .== backslashes) .| (v .< controls), to: SIMD2<UInt64>.self)
                // Lane of the first quote, and of the first special byte: 16 when there is none.
                let quote = q[0] != 0 ? q[0].trailingZeroBitCount &>> 3 : 8 &+ q[1].trailingZeroBitCount &>> 3
                let special = e[0] != 0 ? e[0].trailingZeroBitCount &>> 3 : 8 &+ e[1].trailingZeroBitCount &>> 3
                if quote < special {
                    i = k &+ quote &+ 1
                    return true
                }
                if special < 16 {
                    guard base[k &+ special] == UInt8(ascii: "\\") else { return false }
                    k &+= special &+ 2
                } else {
                    k &+= 16
                }
            }
            #endif
            while true {
                while k < end, base[k] != UInt8(ascii: "\""), base[k] != UInt8(ascii: "\\"), base[k] >= 0x20 { k &+= 1 }
                guard k < end else { return false }
                let c = base[k]
                if c == UInt8(ascii: "\"") { i = k &+ 1; return true }
                guard c == UInt8(ascii: "\\") else { return false }
                k &+= 2
            }
        }
        var key = false  // the next step reads `key :` before the value
        value: while true {
            if key {
                space(&i)
                guard i < end, base[i] == UInt8(ascii: "\""), string(&i) else { return false }
                space(&i)
                guard i < end, base[i] == UInt8(ascii: ":") else { return false }
                i &+= 1
                key = false
            }
            space(&i)
            guard i < end else { return false }
            switch base[i] {
            case UInt8(ascii: "\""):
                guard string(&i) else { return false }
            case UInt8(ascii: "{"):
                guard level < limit else { return false }
                level &+= 1
                arrays &= ~(1 &<< UInt64(level))
                i &+= 1
                space(&i)
                if i < end, base[i] == UInt8(ascii: "}") {
                    i &+= 1
                    level &-= 1
                } else {
                    key = true
                    continue value
                }
            case UInt8(ascii: "["):
                guard level < limit else { return false }
                level &+= 1
                arrays |= 1 &<< UInt64(level)
                i &+= 1
                space(&i)
                if i < end, base[i] == UInt8(ascii: "]") {
                    i &+= 1
                    level &-= 1
                } else {
                    continue value
                }
            case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                let word: StaticString = base[i] == UInt8(ascii: "t") ? "true" : base[i] == UInt8(ascii: "f") ? "false" : "null"
                let n = word.utf8CodeUnitCount
                guard end &- i >= n,
                      UnsafeRawPointer(base + i).loadUnaligned(as: UInt32.self)
                        == UnsafeRawPointer(word.utf8Start).loadUnaligned(as: UInt32.self),
                      n == 4 || base[i &+ 4] == word.utf8Start[4]
                else { return false }
                i &+= n
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                @inline(__always) func isDigit(_ k: Int) -> Bool { k < end && base[k] &- UInt8(ascii: "0") < 10 }
                if base[i] == UInt8(ascii: "-") { i &+= 1 }
                guard isDigit(i) else { return false }
                if base[i] == UInt8(ascii: "0") { i &+= 1 } else { while isDigit(i) { i &+= 1 } }
                if i < end, base[i] == UInt8(ascii: ".") {
                    i &+= 1
                    guard isDigit(i) else { return false }
                    while isDigit(i) { i &+= 1 }
                }
                if i < end, base[i] | 0x20 == UInt8(ascii: "e") {
                    i &+= 1
                    if i < end, base[i] == UInt8(ascii: "+") || base[i] == UInt8(ascii: "-") { i &+= 1 }
                    guard isDigit(i) else { return false }
                    while isDigit(i) { i &+= 1 }
                }
            default:
                return false
            }
            // After a value: the next member or element, or the end of containers.
            while level > 0 {
                space(&i)
                guard i < end else { return false }
                let c = base[i]
                i &+= 1
                let inArray = arrays &>> UInt64(level) & 1 != 0
                if c == UInt8(ascii: ",") {
                    key = !inArray
                    continue value
                }
                guard c == (inArray ? UInt8(ascii: "]") : UInt8(ascii: "}")) else { return false }
                level &-= 1
            }
            pos = i
            return true
        }
    }

    /// Skips an object at `pos` (which is `{`), itself at nesting `depth`.
    mutating func skipObject(depth: Int) throws(ScanFailure) {
        guard depth <= maxDepth else { throw .tooDeep(offset: pos) }
        pos += 1
        if peek() == UInt8(ascii: "}") { pos += 1; return }
        repeat {
            _ = try scanString()
            try expect(UInt8(ascii: ":"))
            try skipValueChecked(depth: depth)
        } while try nextOrClose(UInt8(ascii: "}"))
    }

    /// Skips an array at `pos` (which is `[`), itself at nesting `depth`.
    mutating func skipArray(depth: Int) throws(ScanFailure) {
        guard depth <= maxDepth else { throw .tooDeep(offset: pos) }
        pos += 1
        if peek() == UInt8(ascii: "]") { pos += 1; return }
        repeat {
            try skipValueChecked(depth: depth)
        } while try nextOrClose(UInt8(ascii: "]"))
    }

    /// `true`, `false` or `null` at `pos`, spelled exactly: its first four bytes compared as one word.
    mutating func literal(_ word: StaticString) throws(ScanFailure) {
        let n = word.utf8CodeUnitCount
        guard end - pos >= n else { throw .syntax(offset: pos) }
        if UnsafeRawPointer(base + pos).loadUnaligned(as: UInt32.self)
            == UnsafeRawPointer(word.utf8Start).loadUnaligned(as: UInt32.self),
           n == 4 || base[pos + 4] == word.utf8Start[4] {
            pos += n
            return
        }
        // Not the word: the error names the first byte that differs.
        for k in 0..<n where base[pos + k] != word.utf8Start[k] { throw .syntax(offset: pos + k) }
        pos += n
    }

    /// RFC 8259 number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    mutating func skipNumber() throws(ScanFailure) {
        @inline(__always) func isDigit(_ i: Int) -> Bool { i < end && base[i] &- UInt8(ascii: "0") < 10 }
        var i = pos
        if base[i] == UInt8(ascii: "-") { i += 1 }
        guard isDigit(i) else { throw .syntax(offset: i) }
        if base[i] == UInt8(ascii: "0") { i += 1 } else { while isDigit(i) { i += 1 } }
        if i < end, base[i] == UInt8(ascii: ".") {
            i += 1
            guard isDigit(i) else { throw .syntax(offset: i) }
            while isDigit(i) { i += 1 }
        }
        if i < end, base[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            if i < end, base[i] == UInt8(ascii: "+") || base[i] == UInt8(ascii: "-") { i += 1 }
            guard isDigit(i) else { throw .syntax(offset: i) }
            while isDigit(i) { i += 1 }
        }
        pos = i
    }

    /// Whether the raw (unescaped) bytes of `s` are exactly `word`.
    @inline(__always)
    func equals(_ s: RawString, _ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard s.end - s.start == n else { return false }
        let w = word.utf8Start
        for k in 0..<n where base[s.start + k] != w[k] { return false }
        return true
    }
}

/// Decoding of JSON string contents: escapes and UTF-8 validation, only for strings we keep.
enum Unescape {
    enum Failure: Error { case badEscape, badUTF8 }

    /// The UTF-8 bytes a JSON string's raw contents stand for.
    static func bytes(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) throws(Failure) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(end - start)
        var i = start
        @inline(__always) func hex4(_ at: Int) throws(Failure) -> UInt32 {
            guard at + 4 <= end else { throw .badEscape }
            var v: UInt32 = 0
            for k in at..<(at + 4) {
                guard let h = AddressParser.hexValue(p[k]) else { throw .badEscape }
                v = v << 4 | UInt32(h)
            }
            return v
        }
        while i < end {
            let c = p[i]
            guard c == UInt8(ascii: "\\") else { out.append(c); i += 1; continue }
            guard i + 1 < end else { throw .badEscape }
            let e = p[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(i)
                i += 4
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard i + 6 <= end, p[i] == UInt8(ascii: "\\"), p[i + 1] == UInt8(ascii: "u") else {
                        throw .badUTF8
                    }
                    let low = try hex4(i + 2)
                    guard low >= 0xDC00 && low < 0xE000 else { throw .badUTF8 }
                    i += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw .badUTF8
                }
                guard let u = Unicode.Scalar(scalar) else { throw .badUTF8 }
                out.append(contentsOf: UTF8.encode(u)!)
            default:
                throw .badEscape
            }
        }
        return out
    }

    /// A Swift string from a JSON string's raw contents; invalid UTF-8 is an error, never repaired.
    static func string(_ p: UnsafePointer<UInt8>, _ s: RawString) throws(Failure) -> String {
        if !s.hasEscapes {
            let buffer = UnsafeBufferPointer(start: p + s.start, count: s.end - s.start)
            // The scan already knows ASCII; the string is then made without a second validation.
            if s.isASCII { return UTF8Text.uncheckedString(buffer, isASCII: true) }
            guard let text = UTF8Text.string(validating: buffer) else { throw .badUTF8 }
            return text
        }
        let decoded = try bytes(p, s.start, s.end)
        return try decoded.withUnsafeBufferPointer { (buffer) throws(Failure) -> String in
            guard let text = UTF8Text.string(validating: buffer) else { throw .badUTF8 }
            return text
        }
    }

    /// RFC 3629 UTF-8 (no overlongs, no surrogates, at most U+10FFFF), ASCII eight bytes at a time.
    /// The standard library's `String(validating:)` is not specialised here and costs a generic
    /// metadata lookup per call; see `UTF8Text` for making the string once the bytes are checked.
    static func isValidUTF8(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let p = b.baseAddress else { return true }
        let n = b.count
        var i = 0
        while i < n {
            if i + 8 <= n {
                let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                if w & 0x8080_8080_8080_8080 == 0 { i += 8; continue }
            }
            let c = p[i]
            if c < 0x80 { i += 1; continue }
            @inline(__always) func cont(_ k: Int) -> Bool { i + k < n && p[i + k] & 0xC0 == 0x80 }
            switch c {
            case 0xC2...0xDF:
                guard cont(1) else { return false }
                i += 2
            case 0xE0...0xEF:
                guard cont(1), cont(2) else { return false }
                let c1 = p[i + 1]
                if c == 0xE0 && c1 < 0xA0 { return false }  // overlong
                if c == 0xED && c1 > 0x9F { return false }  // surrogate
                i += 3
            case 0xF0...0xF4:
                guard cont(1), cont(2), cont(3) else { return false }
                let c1 = p[i + 1]
                if c == 0xF0 && c1 < 0x90 { return false }  // overlong
                if c == 0xF4 && c1 > 0x8F { return false }  // above U+10FFFF
                i += 4
            default:
                return false
            }
        }
        return true
    }

    /// Throws what `string(_:_:)` would throw for `s` without making it; returns the unescaped bytes
    /// when `s` holds escapes (nil otherwise: its bytes are the input's).
    @inline(__always)
    static func check(_ p: UnsafePointer<UInt8>, _ s: RawString) throws(Failure) -> [UInt8]? {
        if s.hasEscapes {
            let decoded = try bytes(p, s.start, s.end)
            guard decoded.withUnsafeBufferPointer({ UTF8Text.isASCII($0) || isValidUTF8($0) }) else { throw .badUTF8 }
            return decoded
        }
        if !s.isASCII, !isValidUTF8(UnsafeBufferPointer(start: p + s.start, count: s.end - s.start)) {
            throw .badUTF8
        }
        return nil
    }

    /// Calls `body` with the unescaped bytes of `s`, copying only when it holds escapes.
    static func withBytes<R>(
        _ p: UnsafePointer<UInt8>, _ s: RawString, _ body: (UnsafeRawBufferPointer) -> R
    ) throws(Failure) -> R {
        if !s.hasEscapes {
            return body(UnsafeRawBufferPointer(start: p + s.start, count: s.end - s.start))
        }
        let decoded = try bytes(p, s.start, s.end)
        return decoded.withUnsafeBytes(body)
    }
}
