/// What a top-level object held besides its own event fields: a `Records` batch or an EventBridge
/// `detail`, read eagerly when met so that one pass suffices whatever the envelope turns out to be.
struct Envelope {
    var batch: CloudTrailDecodeResult?
    var detail: RawEvent?
    /// The batch ended in a structural failure, already recorded in `batch`.
    var batchBroken = false
    /// The pre-filter dropped `detail` unread.
    var detailFiltered = false
}

extension JSONScanner {
    /// The field of the key at `pos` (nil: a key the decoder skips), past the colon after it. A key
    /// spelled exactly as `known` lists it is recognised in place (`KnownKeys.match`); any other is
    /// scanned as a string and looked up by its unescaped bytes (CloudTrail never escapes keys).
    @inline(__always)
    mutating func key(_ known: KnownKeys) throws(ScanFailure) -> Field? {
        var hint = Int.max
        return try key(known, hint: &hint)
    }

    /// As `key(_:)`, trying the key listed at `hint` in `known` first (`KnownKeys.match`).
    @inline(__always)
    mutating func key(_ known: KnownKeys, hint: inout Int) throws(ScanFailure) -> Field? {
        if pos < end, base[pos] == UInt8(ascii: "\""), let hit = known.match(base, at: pos + 1, end: end, hint: &hint) {
            pos &+= 1 &+ hit.length
            return hit.field
        }
        let k = try scanString()
        try expect(UInt8(ascii: ":"))
        if !k.hasEscapes { return known.field(base + k.start, k.end - k.start) }
        guard let bytes = try? Unescape.bytes(base, k.start, k.end) else { return nil }
        return bytes.withUnsafeBufferPointer { known.field($0.baseAddress!, $0.count) }
    }

    /// A string-valued field: first occurrence wins, `null` counts as absent, other types fail.
    @inline(__always)
    mutating func stringField(_ field: Field, _ event: inout RawEvent, depth: Int) throws(ScanFailure) {
        guard event.claim(field) else { return try skipValue(depth: depth) }
        switch peek() {
        case UInt8(ascii: "\""):
            let span = try scanString()
            event.spans[field] = span
            if span.hasEscapes || !span.isASCII { event.plain = false }
        case UInt8(ascii: "n"): try literal("null")
        default:
            event.fail(.wrongType, field)
            try skipValue(depth: depth)
        }
    }

    /// A CloudTrail boolean: the string `"true"`/`"false"` (as CloudTrail writes it) or a JSON boolean.
    mutating func boolField(_ field: Field, _ event: inout RawEvent, depth: Int) throws(ScanFailure) {
        guard event.claim(field) else { return try skipValue(depth: depth) }
        var value: Bool?
        switch peek() {
        case UInt8(ascii: "\""):
            let s = try scanString()
            if s.hasEscapes {
                let text = (try? Unescape.bytes(base, s.start, s.end)) ?? []
                value = text.elementsEqual("true".utf8) ? true : text.elementsEqual("false".utf8) ? false : nil
            } else {
                value = equals(s, "true") ? true : equals(s, "false") ? false : nil
            }
        case UInt8(ascii: "t"): try literal("true"); value = true
        case UInt8(ascii: "f"): try literal("false"); value = false
        case UInt8(ascii: "n"): try literal("null")
        default:
            event.fail(.wrongType, field)
            try skipValue(depth: depth)
        }
        if field == .sessionCredentialFromConsole { event.consoleSession = value ?? false }
        else { event.mfaAuthenticated = value }
    }

    /// An object-valued field: true if the caller should read the object now at `pos`.
    @inline(__always)
    mutating func enterObject(_ field: Field, _ event: inout RawEvent, depth: Int) throws(ScanFailure) -> Bool {
        guard event.claim(field) else { try skipValue(depth: depth); return false }
        switch peek() {
        case UInt8(ascii: "{"): return true
        case UInt8(ascii: "n"): try literal("null"); return false
        default:
            event.fail(.wrongType, field)
            try skipValue(depth: depth)
            return false
        }
    }

    /// Iterates the members of the object at `pos` (which is `{`), at nesting `depth`.
    @inline(__always)
    mutating func members(
        depth: Int, _ body: (inout JSONScanner) throws(ScanFailure) -> Void
    ) throws(ScanFailure) {
        guard depth <= maxDepth else { throw .tooDeep(offset: pos) }
        pos += 1
        if peek() == UInt8(ascii: "}") { pos += 1; return }
        repeat {
            try body(&self)
        } while try nextOrClose(UInt8(ascii: "}"))
    }

    /// Reads one event object at `pos` (nesting `depth`). With `envelope`, also reads the keys
    /// `Records` and `detail`: only a top-level object may be an envelope.
    mutating func readEvent(
        _ event: inout RawEvent, depth: Int, envelope: inout Envelope, allowEnvelope: Bool,
        prefilter: CloudTrailPrefilter?
    ) throws(ScanFailure) {
        var hint = 0
        try members(depth: depth) { (s: inout JSONScanner) throws(ScanFailure) in
            guard let field = try s.key(.event, hint: &hint) else { return try s.skipValue(depth: depth) }
            switch field {
            case .userIdentity:
                if try s.enterObject(.userIdentity, &event, depth: depth) {
                    try s.readIdentity(depth: depth + 1, &event)
                }
            case .sessionCredentialFromConsole:
                try s.boolField(field, &event, depth: depth)
            case .records:
                // First occurrence wins here too, whatever its type.
                guard allowEnvelope, event.claim(.records), s.peek() == UInt8(ascii: "[") else {
                    return try s.skipValue(depth: depth)
                }
                envelope.batch = CloudTrailDecodeResult()
                do throws(ScanFailure) {
                    try s.readArray(depth: depth + 1, into: &envelope.batch!, prefilter: prefilter)
                } catch {
                    envelope.batchBroken = true
                    throw error
                }
            case .detail:
                guard allowEnvelope, event.claim(.detail), s.peek() == UInt8(ascii: "{") else {
                    return try s.skipValue(depth: depth)
                }
                if let prefilter, !prefilter.mayMatch(at: s) {
                    envelope.detailFiltered = true
                    return try s.skipValue(depth: depth)
                }
                var unused = Envelope()
                var detail = RawEvent()
                try s.readEvent(
                    &detail, depth: depth + 1, envelope: &unused, allowEnvelope: false, prefilter: prefilter)
                envelope.detail = detail
            case .eventVersion:
                _ = event.claim(.eventVersion)
                try s.skipValue(depth: depth)
            default:
                try s.stringField(field, &event, depth: depth)
            }
        }
    }

    /// `userIdentity` at `pos`, itself at nesting `depth`.
    mutating func readIdentity(depth: Int, _ event: inout RawEvent) throws(ScanFailure) {
        var hint = 0
        try members(depth: depth) { (s: inout JSONScanner) throws(ScanFailure) in
            guard let field = try s.key(.identity, hint: &hint) else { return try s.skipValue(depth: depth) }
            guard field == .sessionContext else { return try s.stringField(field, &event, depth: depth) }
            guard try s.enterObject(.sessionContext, &event, depth: depth) else { return }
            try s.members(depth: depth + 1) { (s: inout JSONScanner) throws(ScanFailure) in
                guard let inner = try s.key(.sessionContext) else {
                    return try s.skipValue(depth: depth + 1)
                }
                if inner == .sourceIdentity { return try s.stringField(inner, &event, depth: depth + 1) }
                guard try s.enterObject(inner, &event, depth: depth + 1) else { return }
                try s.members(depth: depth + 2) { (s: inout JSONScanner) throws(ScanFailure) in
                    guard let wanted = try s.key(inner == .attributes ? .attributes : .sessionIssuer) else {
                        return try s.skipValue(depth: depth + 2)
                    }
                    if wanted == .mfaAuthenticated {
                        try s.boolField(wanted, &event, depth: depth + 2)
                    } else {
                        try s.stringField(wanted, &event, depth: depth + 2)
                    }
                }
            }
        }
    }

    /// The members of an array of events at `pos` (which is `[`), each decoded on its own: a bad
    /// member yields an error with its index and the next one is still read. A structural failure
    /// ends the array (nothing after it can be found); it is recorded in `result` with the index of
    /// the member where it happened, and rethrown.
    mutating func readArray(
        depth: Int, into result: inout CloudTrailDecodeResult, prefilter: CloudTrailPrefilter?
    ) throws(ScanFailure) {
        var index = 0
        do throws(ScanFailure) {
            guard depth <= maxDepth else { throw .tooDeep(offset: pos) }
            pos += 1
            if peek() == UInt8(ascii: "]") { pos += 1; return }
            repeat {
                if peek() == UInt8(ascii: "{"), let prefilter, !prefilter.mayMatch(at: self) {
                    // Cannot match: only its extent is needed, found by the structural skip.
                    try skipValue(depth: depth)
                    result.filtered += 1
                } else if peek() == UInt8(ascii: "{") {
                    var unused = Envelope()
                    var raw = RawEvent()
                    try readEvent(
                        &raw, depth: depth + 1, envelope: &unused, allowEnvelope: false, prefilter: prefilter)
                    finish(raw, recordIndex: index, into: &result)
                } else {
                    try skipValue(depth: depth)
                    result.errors.append(CloudTrailDecodingError(reason: .notObject, recordIndex: index))
                }
                index += 1
            } while try nextOrClose(UInt8(ascii: "]"))
        } catch {
            result.errors.append(error.decodingError(recordIndex: index))
            throw error
        }
    }

    /// The string fields in the order `finish` checks them: the first bad one names the error.
    static let checkOrder: [Field] = [
        .type, .arn, .accountId, .principalId, .userName, .accessKeyId, .sessionIssuerArn, .sessionCreationDate,
        .sourceIdentity, .eventID, .eventSource,
        .eventName, .eventCategory, .awsRegion, .sourceIPAddress, .userAgent, .recipientAccountId, .errorCode,
    ]

    /// Appends the public event made from `raw` to `result`, or the first reason it is not one.
    /// With `lending`, the event is checked exactly as if it were made (the same errors, naming the
    /// same field) but kept as places in the input (`result.lent`), for `CloudTrailDecoder.decodeEach`.
    func finish(_ raw: RawEvent, recordIndex: Int? = nil, into result: inout CloudTrailDecodeResult) {
        if let failure = raw.failure {
            return result.errors.append(
                CloudTrailDecodingError(reason: failure.reason, recordIndex: recordIndex, field: failure.field.name))
        }
        guard let timeSpan = raw.spans.eventTime else {
            return result.errors.append(CloudTrailDecodingError(reason: .missingEventTime, recordIndex: recordIndex))
        }
        var current = Field.eventTime
        do throws(Unescape.Failure) {
            guard let time = try Unescape.withBytes(base, timeSpan, { RFC3339.parse(utf8: $0) }) else {
                return result.errors.append(
                    CloudTrailDecodingError(reason: .badTimestamp, recordIndex: recordIndex, field: Field.eventTime.name))
            }
            var address = SourceAddress.notAnAddress
            if let span = raw.spans.sourceIPAddress {
                current = .sourceIPAddress
                address = try Unescape.withBytes(base, span) { SourceAddress(parsingUTF8: $0) }
            }
            if lending {
                var unescaped: [(Field, [UInt8])] = []  // rare: CloudTrail escapes little but `/`
                // Plain ASCII without escapes needs no check (`Unescape.check`); the usual event.
                for field in Self.checkOrder where !raw.plain && fields.contains(field) {
                    guard let span = raw.spans[field] else { continue }
                    current = field
                    if let bytes = try Unescape.check(base, span) { unescaped.append((field, bytes)) }
                }
                return result.lent.append(LentEvent(
                    raw: raw, eventTime: time, sourceAddress: address,
                    unescaped: unescaped.isEmpty ? nil : UnescapedFields(unescaped)))
            }
            @inline(__always) func text(_ field: Field) throws(Unescape.Failure) -> String? {
                guard fields.contains(field), let span = raw.spans[field] else { return nil }
                current = field
                return try Unescape.string(base, span)
            }
            let identity = UserIdentity(
                type: try text(.type), arn: try text(.arn), accountId: try text(.accountId),
                principalId: try text(.principalId), userName: try text(.userName),
                accessKeyId: try text(.accessKeyId), mfaAuthenticated: raw.mfaAuthenticated,
                sessionIssuerArn: try text(.sessionIssuerArn), sessionCreationDate: try text(.sessionCreationDate),
                sourceIdentity: try text(.sourceIdentity))
            result.events.append(CloudTrailEvent(
                eventTime: time, eventID: try text(.eventID), eventSource: try text(.eventSource),
                eventName: try text(.eventName), eventCategory: try text(.eventCategory),
                awsRegion: try text(.awsRegion), sourceIPAddress: try text(.sourceIPAddress),
                sourceAddress: address, userAgent: try text(.userAgent),
                recipientAccountId: try text(.recipientAccountId), errorCode: try text(.errorCode),
                sessionCredentialFromConsole: raw.consoleSession, userIdentity: identity))
        } catch {
            let reason: CloudTrailDecodingError.Reason = error == .badUTF8 ? .badUTF8 : .notJSON
            result.errors.append(CloudTrailDecodingError(reason: reason, recordIndex: recordIndex, field: current.name))
        }
    }
}

extension ScanFailure {
    func decodingError(recordIndex: Int? = nil) -> CloudTrailDecodingError {
        switch self {
        case .syntax(let offset):
            return CloudTrailDecodingError(reason: .notJSON, recordIndex: recordIndex, byteOffset: offset)
        case .tooDeep(let offset):
            return CloudTrailDecodingError(reason: .tooDeep, recordIndex: recordIndex, byteOffset: offset)
        }
    }
}
