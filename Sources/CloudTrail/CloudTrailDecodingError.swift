/// One record that could not be decoded, with a reason short and stable enough for a dead-letter
/// header or a metric label, and where it sat in its batch.
public struct CloudTrailDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable reasons: `rawValue` is the label the pipeline writes; never rename one.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        /// Not well-formed JSON (also: truncated, trailing garbage, a bad escape in a kept string).
        case notJSON = "not_json"
        /// Well-formed JSON, but the document or a batch member is not an object.
        case notObject = "not_object"
        /// An event object without `eventTime` (or with `null`).
        case missingEventTime = "missing_event_time"
        /// `eventTime` is not RFC 3339.
        case badTimestamp = "bad_timestamp"
        /// A field the rules read holds the wrong JSON type (a number where a string belongs).
        case wrongType = "wrong_type"
        /// A string the rules read is not valid UTF-8 (raw bytes or a lone surrogate escape).
        case badUTF8 = "bad_utf8"
        /// Nesting deeper than `Limits.maxDepth`.
        case tooDeep = "too_deep"
        /// Larger than `Limits.maxDecodedBytes`, or a gzip member inflating past `maxCompressionRatio`.
        case tooLarge = "too_large"
        /// Starts like gzip but does not inflate.
        case badGzip = "bad_gzip"
    }

    public var reason: Reason
    /// Position of the member in `Records` or in a top-level array; nil for a whole document.
    public var recordIndex: Int?
    /// Zero-based line, for JSON-lines input only.
    public var line: Int?
    /// The dotted field name, for `wrong_type`, `bad_timestamp`, `bad_utf8` and escape failures.
    public var field: String?
    /// Byte offset in the (decompressed) document where scanning stopped, for structural failures.
    public var byteOffset: Int?

    public init(
        reason: Reason, recordIndex: Int? = nil, line: Int? = nil, field: String? = nil, byteOffset: Int? = nil
    ) {
        self.reason = reason
        self.recordIndex = recordIndex
        self.line = line
        self.field = field
        self.byteOffset = byteOffset
    }

    public var description: String {
        var text = reason.rawValue
        if let line { text += " line=\(line)" }
        if let recordIndex { text += " record=\(recordIndex)" }
        if let field { text += " field=\(field)" }
        if let byteOffset { text += " offset=\(byteOffset)" }
        return text
    }
}

/// What one record value held: the events decoded and one error per member that was not.
public struct CloudTrailDecodeResult: Sendable, Hashable {
    public var events: [CloudTrailEvent]
    public var errors: [CloudTrailDecodingError]
    /// Event objects the decoder's pre-filter dropped unread (they cannot match its profile).
    public var filtered: Int
    /// Checked events kept as places in the input, while `CloudTrailDecoder.decodeEach` runs (empty
    /// otherwise, and not part of equality).
    var lent: [LentEvent] = []

    public static func == (a: Self, b: Self) -> Bool {
        a.events == b.events && a.errors == b.errors && a.filtered == b.filtered
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(events)
        hasher.combine(errors)
        hasher.combine(filtered)
    }

    public init(events: [CloudTrailEvent] = [], errors: [CloudTrailDecodingError] = [], filtered: Int = 0) {
        self.events = events
        self.errors = errors
        self.filtered = filtered
    }

    mutating func append(_ other: CloudTrailDecodeResult) {
        events.append(contentsOf: other.events)
        lent.append(contentsOf: other.lent)
        errors.append(contentsOf: other.errors)
        filtered += other.filtered
    }

    /// Empties both lists but keeps their storage, for a decoder loop that reuses one result.
    public mutating func removeAll() {
        // Usually empty already (`decodeEach` empties `lent`): the general removal costs even then.
        if !events.isEmpty { events.removeAll(keepingCapacity: true) }
        if !lent.isEmpty { lent.removeAll(keepingCapacity: true) }
        if !errors.isEmpty { errors.removeAll(keepingCapacity: true) }
        filtered = 0
    }
}
