/// `String`s from UTF-8 bytes without the standard library's slow paths.
///
/// `String(validating:as:)` goes through an unspecialised generic `_validate`, and
/// `String(decoding:as:)` validates again (and would repair) even when the caller has just checked
/// the bytes. Here the bytes are checked once (ASCII eight bytes at a time, then RFC 3629) and the
/// string is made with `String(copying: UTF8Span)`, which copies without validating again.
public enum UTF8Text {
    /// The string `bytes` spell, or nil when they are not valid UTF-8 (never repaired).
    public static func string(validating bytes: UnsafeBufferPointer<UInt8>) -> String? {
        if isASCII(bytes) { return uncheckedString(bytes, isASCII: true) }
        guard Unescape.isValidUTF8(bytes) else { return nil }
        return uncheckedString(bytes, isASCII: false)
    }

    /// Whether every byte is below 0x80, eight at a time.
    @inline(__always)
    public static func isASCII(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let p = b.baseAddress else { return true }
        let n = b.count
        var i = 0
        var high: UInt64 = 0
        while i + 8 <= n {
            high |= UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
            i += 8
        }
        while i < n {
            high |= UInt64(p[i])
            i += 1
        }
        return high & 0x8080_8080_8080_8080 == 0
    }

    /// Whether `bytes` are valid UTF-8 (RFC 3629), ASCII checked eight bytes at a time.
    public static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        isASCII(bytes) || Unescape.isValidUTF8(bytes)
    }

    /// A string copied from `bytes`, which the caller has checked: valid UTF-8, and ASCII if `isASCII`.
    @inline(__always)
    public static func uncheckedString(_ bytes: UnsafeBufferPointer<UInt8>, isASCII: Bool) -> String {
        if #available(macOS 26.0, iOS 26.0, watchOS 26.0, tvOS 26.0, visionOS 26.0, *) {
            let span = Span(_unsafeElements: bytes)
            return String(copying: UTF8Span(unchecked: span, isKnownASCII: isASCII))
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
