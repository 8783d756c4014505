/// Decodes the value of one Kafka record (or one file) into CloudTrail events.
///
/// Envelopes are recognised by shape, one pass over the bytes:
/// - gzip (magic `1f 8b`) of any of the forms below, inflated within `Limits`;
/// - a JSON array: each member is an event;
/// - an object with an event's own keys (`eventTime`, `eventVersion` or `userIdentity`): one event;
/// - otherwise an object with a `Records` array: a CloudTrail batch (the S3 file format);
/// - otherwise an object with a `detail` object: an EventBridge envelope around one event;
/// - otherwise: one event (which then fails, usually `missing_event_time`).
///
/// Rules a caller may rely on: duplicate keys, first wins (so `CloudTrailPrefilter` can decide on
/// first sight); `null` is the same as absent; a field the rules read with another JSON type is
/// `wrong_type`; strings that are kept are checked for UTF-8 and escapes, skipped values only for
/// structure. A bad member of a batch costs that member only, unless the JSON itself is broken,
/// in which case the members before the break are still returned.
public struct CloudTrailDecoder: Sendable {
    /// Bounds on what one record may cost, whatever its bytes.
    public struct Limits: Sendable, Hashable {
        /// Deepest nesting of objects and arrays, counting the document itself as 1.
        public var maxDepth: Int
        /// Largest document, after decompression.
        public var maxDecodedBytes: Int
        /// Largest inflated/compressed ratio accepted past the first MiB of output (gzip bombs).
        public var maxCompressionRatio: Int

        /// `maxDepth` is clamped to 1...1024: the scanner recurses once per level.
        public init(maxDepth: Int = 64, maxDecodedBytes: Int = 8 << 20, maxCompressionRatio: Int = 200) {
            self.maxDepth = min(max(maxDepth, 1), 1024)
            self.maxDecodedBytes = max(maxDecodedBytes, 0)
            self.maxCompressionRatio = max(maxCompressionRatio, 1)
        }
    }

    public var limits: Limits
    /// When set, each event object (a single event, every batch member, an EventBridge `detail`) is first
    /// shown to the pre-filter, and one that cannot match is skipped unread and counted in
    /// `CloudTrailDecodeResult.filtered`: a route stage then pays full extraction only for candidates.
    /// Skipped batch members are checked for structure only, so they yield no per-member error; a
    /// single-event document it rejects is not read past the deciding field (like `mayMatch`).
    public var prefilter: CloudTrailPrefilter?

    /// The string fields of `CloudTrailEvent` (and its `userIdentity`) a decoder makes.
    public struct Fields: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        init(_ field: Field) { rawValue = 1 << UInt32(field.rawValue) }

        public static let eventID = Fields(.eventID)
        public static let eventSource = Fields(.eventSource)
        public static let eventName = Fields(.eventName)
        public static let eventCategory = Fields(.eventCategory)
        public static let awsRegion = Fields(.awsRegion)
        /// The text; `CloudTrailEvent.sourceAddress` is classified whatever this set holds.
        public static let sourceIPAddress = Fields(.sourceIPAddress)
        public static let userAgent = Fields(.userAgent)
        public static let recipientAccountId = Fields(.recipientAccountId)
        public static let errorCode = Fields(.errorCode)
        public static let type = Fields(.type)
        public static let arn = Fields(.arn)
        public static let accountId = Fields(.accountId)
        public static let principalId = Fields(.principalId)
        public static let userName = Fields(.userName)
        public static let accessKeyId = Fields(.accessKeyId)
        public static let sessionIssuerArn = Fields(.sessionIssuerArn)
        public static let sessionCreationDate = Fields(.sessionCreationDate)
        public static let sourceIdentity = Fields(.sourceIdentity)
        public static let all: Fields = [
            .eventID, .eventSource, .eventName, .eventCategory, .awsRegion, .sourceIPAddress, .userAgent,
            .recipientAccountId, .errorCode, .type, .arn, .accountId, .principalId, .userName, .accessKeyId,
            .sessionIssuerArn, .sessionCreationDate, .sourceIdentity,
        ]

        @inline(__always)
        func contains(_ field: Field) -> Bool { rawValue & (1 << UInt32(field.rawValue)) != 0 }
    }

    /// The string fields to make (`.all` by default). A field outside the set comes back nil and is
    /// treated like any value the decoder skips: checked for structure and type, never copied, its
    /// escapes and UTF-8 not checked. A caller that reads only some fields (the detection rule,
    /// `DetectionRule.fieldsRead`) saves a heap string per unread field per event.
    public var fields: Fields

    public init(limits: Limits = Limits(), prefilter: CloudTrailPrefilter? = nil, fields: Fields = .all) {
        self.limits = limits
        self.prefilter = prefilter
        self.fields = fields
    }

    /// Events and per-member errors of one record value (any envelope, optionally gzip).
    public func decode(_ bytes: UnsafeRawBufferPointer) -> CloudTrailDecodeResult {
        var result = CloudTrailDecodeResult()
        decode(bytes, into: &result)
        return result
    }

    public func decode(_ bytes: some Collection<UInt8>) -> CloudTrailDecodeResult {
        var result = CloudTrailDecodeResult()
        decode(bytes, into: &result)
        return result
    }

    public func decode(_ bytes: [UInt8]) -> CloudTrailDecodeResult {
        bytes.withUnsafeBytes { decode($0) }
    }

    /// The common case of a Kafka payload, without a generic call per record.
    public func decode(_ bytes: [UInt8], into result: inout CloudTrailDecodeResult) {
        bytes.withUnsafeBytes { decode($0, into: &result) }
    }

    /// Appends to `result`: a loop that reuses one result allocates nothing per record but strings.
    public func decode(_ bytes: some Collection<UInt8>, into result: inout CloudTrailDecodeResult) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { decode(UnsafeRawBufferPointer($0), into: &result) }
        if done == nil { Array(bytes).withUnsafeBytes { decode($0, into: &result) } }
    }

    public func decode(_ bytes: UnsafeRawBufferPointer, into result: inout CloudTrailDecodeResult) {
        guard bytes.count <= limits.maxDecodedBytes else {
            return result.errors.append(.init(reason: .tooLarge))
        }
        guard Gzip.isGzip(bytes) else { return decodeDocument(bytes, into: &result) }
        switch Gzip.inflate(bytes, limits: limits) {
        case .success(let inflated): inflated.withUnsafeBytes { decodeDocument($0, into: &result) }
        case .failure(let error): result.errors.append(error)
        }
    }

    /// File content as JSON lines (one document per line, each any envelope), optionally gzip.
    /// Errors carry their zero-based `line`; blank lines are skipped.
    public func decodeLines(_ bytes: UnsafeRawBufferPointer) -> CloudTrailDecodeResult {
        var result = CloudTrailDecodeResult()
        if bytes.count > limits.maxDecodedBytes {
            result.errors.append(.init(reason: .tooLarge))
        } else if Gzip.isGzip(bytes) {
            switch Gzip.inflate(bytes, limits: limits) {
            case .success(let inflated): inflated.withUnsafeBytes { decodeLines($0, into: &result) }
            case .failure(let error): result.errors.append(error)
            }
        } else {
            decodeLines(bytes, into: &result)
        }
        return result
    }

    public func decodeLines(_ bytes: some Collection<UInt8>) -> CloudTrailDecodeResult {
        bytes.withContiguousStorageIfAvailable { decodeLines(UnsafeRawBufferPointer($0)) }
            ?? Array(bytes).withUnsafeBytes { decodeLines($0) }
    }

    private func decodeLines(_ bytes: UnsafeRawBufferPointer, into result: inout CloudTrailDecodeResult) {
        var start = 0
        var line = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            if slice.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) {
                let firstError = result.errors.count
                decodeDocument(slice, into: &result)
                for k in firstError..<result.errors.count { result.errors[k].line = line }
            }
            start = end + 1
            line += 1
        }
    }

    /// One JSON document, already inflated.
    func decodeDocument(_ bytes: UnsafeRawBufferPointer, into result: inout CloudTrailDecodeResult, lending: Bool = false) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else {
            return result.errors.append(.init(reason: .notJSON, byteOffset: 0))
        }
        var s = JSONScanner(base.assumingMemoryBound(to: UInt8.self), count: bytes.count, maxDepth: limits.maxDepth)
        s.fields = fields
        s.lending = lending
        // A UTF-8 byte order mark is not JSON, but some writers add it; it carries no meaning.
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { s.pos = 3 }
        var envelope = Envelope()
        var top = RawEvent()
        do throws(ScanFailure) {
            switch s.peek() {
            case UInt8(ascii: "{"):
                if let prefilter, !prefilter.mayMatch(at: s) {
                    result.filtered += 1
                    return
                }
                try s.readEvent(&top, depth: 1, envelope: &envelope, allowEnvelope: true, prefilter: prefilter)
                try s.expectEnd()
                let ownEvent = top.isOwnEvent
                if !ownEvent, let batch = envelope.batch {
                    result.append(batch)
                } else if !ownEvent, let detail = envelope.detail {
                    s.finish(detail, into: &result)
                } else if !ownEvent, envelope.detailFiltered {
                    result.filtered += 1
                } else {
                    s.finish(top, into: &result)
                }
            case UInt8(ascii: "["):
                var batch = CloudTrailDecodeResult()
                var broken = false
                do throws(ScanFailure) {
                    try s.readArray(depth: 1, into: &batch, prefilter: prefilter)
                } catch {
                    broken = true  // readArray recorded the failure in `batch`
                }
                result.append(batch)
                if !broken { try s.expectEnd() }
            case nil:
                result.errors.append(.init(reason: .notJSON, byteOffset: s.pos))
            default:
                try s.skipValue(depth: 0)
                try s.expectEnd()
                result.errors.append(.init(reason: .notObject))
            }
        } catch {
            // A batch read before the break keeps its members (unless the object showed itself to be an
            // event, as in the complete case); a break inside the batch is already recorded there.
            if let batch = envelope.batch, !top.isOwnEvent { result.append(batch) }
            if !envelope.batchBroken { result.errors.append(error.decodingError()) }
        }
    }
}

extension JSONScanner {
    /// Only whitespace may follow the document.
    mutating func expectEnd() throws(ScanFailure) {
        skipWhitespace()
        guard pos == end else { throw .syntax(offset: pos) }
    }
}
