/// Finds the byte ranges of the events in one JSON document without decoding them, for tools
/// that forward events unchanged (`tokentrail replay`): the members of a `{"Records": [...]}`
/// batch or of a top-level array, else the document itself. Checks structure only.
public enum EventSplitter {
    public enum Layout: Sendable, Hashable {
        /// An object with a `Records` array (the S3 file format): its members.
        case records([Range<Int>])
        /// A top-level array: its members.
        case array([Range<Int>])
        /// Any other object (one event, an EventBridge envelope): the whole document.
        case single(Range<Int>)
    }

    /// The layout of `bytes`, or nil when they are not one well-formed JSON object or array.
    public static func split(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) -> Layout? {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return nil }
        var s = JSONScanner(base.assumingMemoryBound(to: UInt8.self), count: bytes.count, maxDepth: min(max(maxDepth, 1), 1024))
        do throws(ScanFailure) {
            switch s.peek() {
            case UInt8(ascii: "["):
                let members = try s.members(ofArrayAtDepth: 1)
                try s.expectEnd()
                return .array(members)
            case UInt8(ascii: "{"):
                let start = s.pos
                var records: [Range<Int>]?
                s.pos += 1
                if s.peek() == UInt8(ascii: "}") {
                    s.pos += 1
                } else {
                    repeat {
                        let key = try s.scanString()
                        try s.expect(UInt8(ascii: ":"))
                        if records == nil, s.equals(key, "Records"), s.peek() == UInt8(ascii: "[") {
                            records = try s.members(ofArrayAtDepth: 2)
                        } else {
                            try s.skipValue(depth: 1)
                        }
                    } while try s.nextOrClose(UInt8(ascii: "}"))
                }
                let end = s.pos
                try s.expectEnd()
                return records.map { .records($0) } ?? .single(start..<end)
            default:
                return nil
            }
        } catch {
            return nil
        }
    }
}

extension JSONScanner {
    /// The byte ranges of the members of the array at `pos` (which is `[`), itself at nesting `depth`.
    mutating func members(ofArrayAtDepth depth: Int) throws(ScanFailure) -> [Range<Int>] {
        guard depth <= maxDepth else { throw .tooDeep(offset: pos) }
        pos += 1
        var ranges: [Range<Int>] = []
        if peek() == UInt8(ascii: "]") { pos += 1; return ranges }
        repeat {
            skipWhitespace()
            let start = pos
            try skipValue(depth: depth)
            ranges.append(start..<pos)
        } while try nextOrClose(UInt8(ascii: "]"))
        return ranges
    }
}
