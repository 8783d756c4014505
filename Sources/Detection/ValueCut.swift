/// The longest text value tokentrail carries from an event into its own records (repartition
/// observations, alerts). Longer values are cut on a UTF-8 character boundary and end in `…`, so
/// whoever holds a stolen token cannot make an alert too large to produce (a crash loop that is also
/// a way out of detection) or a window too large to keep. Legitimate values are far shorter: IAM
/// ARNs and user agents stay within a few hundred bytes.
public enum ValueCut {
    public static let maxBytes = 2_048
    /// What a cut value ends in (U+2026, three bytes).
    public static let marker: [UInt8] = [0xE2, 0x80, 0xA6]

    /// How many leading bytes of `bytes` a cut keeps: at most `maxBytes - 3`, never inside a
    /// character (a UTF-8 continuation byte is never the first byte left out).
    @inlinable
    public static func keptCount(_ bytes: UnsafeBufferPointer<UInt8>, maxBytes: Int = maxBytes) -> Int {
        var n = Swift.max(0, maxBytes - marker.count)
        guard n < bytes.count else { return bytes.count }
        while n > 0, bytes[n] & 0xC0 == 0x80 { n -= 1 }
        return n
    }

    /// Appends `bytes`, cut with the marker when longer than `maxBytes`.
    @inlinable
    public static func append(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8], maxBytes: Int = maxBytes) {
        if bytes.count <= maxBytes {
            out.append(contentsOf: bytes)
        } else {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[..<keptCount(bytes, maxBytes: maxBytes)]))
            out.append(contentsOf: marker)
        }
    }

    /// `text` cut as `append` cuts it.
    public static func cut(_ text: String, maxBytes: Int = maxBytes) -> String {
        guard text.utf8.count > maxBytes else { return text }
        var out: [UInt8] = []
        var copy = text
        copy.withUTF8 { append($0, to: &out, maxBytes: maxBytes) }
        return String(decoding: out, as: UTF8.self)
    }
}
