/// An event `finish` checked but did not make: where its fields are in the input.
struct LentEvent: Sendable {
    var raw: RawEvent
    var eventTime: EventTime
    var sourceAddress: SourceAddress
}

/// One event `CloudTrailDecoder.decodeEach` lends to its body: the same fields a `CloudTrailEvent`
/// from the same decoder would hold, read in place. Valid only inside that body (it points into the
/// record being decoded); copy out what must outlive it with `string(_:)` or `event()`.
///
/// Every string field the decoder's `fields` lists was already checked (escapes, UTF-8), exactly as
/// when making a `CloudTrailEvent`, so nothing here can fail.
public struct EventFields {
    let base: UnsafePointer<UInt8>
    let lent: LentEvent
    let fields: CloudTrailDecoder.Fields

    public var eventTime: EventTime { lent.eventTime }
    /// `sourceIPAddress` classified, as `CloudTrailEvent.sourceAddress`.
    public var sourceAddress: SourceAddress { lent.sourceAddress }
    public var sessionCredentialFromConsole: Bool { lent.raw.consoleSession }

    @inline(__always)
    private func span(_ field: CloudTrailDecoder.Fields) -> RawString? {
        guard let f = Field(rawValue: UInt8(truncatingIfNeeded: field.rawValue.trailingZeroBitCount)),
              fields.contains(f) else { return nil }
        return lent.raw.spans[f]
    }

    /// The field's text (one field of `CloudTrailDecoder.Fields`); nil when absent, null, or not
    /// among the decoder's `fields`, as in `CloudTrailEvent`.
    public func string(_ field: CloudTrailDecoder.Fields) -> String? {
        guard let s = span(field) else { return nil }
        return try? Unescape.string(base, s)
    }

    /// Calls `body` with the field's UTF-8 bytes (unescaped, copied only when the input escapes
    /// them); nil when `string(field)` would be nil.
    @inline(__always)
    public func withUTF8<R>(_ field: CloudTrailDecoder.Fields, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        guard let s = span(field) else { return nil }
        return try? Unescape.withBytes(base, s) { body($0.assumingMemoryBound(to: UInt8.self)) }
    }

    /// The `CloudTrailEvent` the same decoder makes with `decode`.
    public func event() -> CloudTrailEvent {
        let identity = UserIdentity(
            type: string(.type), arn: string(.arn), accountId: string(.accountId), principalId: string(.principalId),
            userName: string(.userName), accessKeyId: string(.accessKeyId), mfaAuthenticated: lent.raw.mfaAuthenticated,
            sessionIssuerArn: string(.sessionIssuerArn))
        return CloudTrailEvent(
            eventTime: eventTime, eventID: string(.eventID), eventSource: string(.eventSource),
            eventName: string(.eventName), eventCategory: string(.eventCategory), awsRegion: string(.awsRegion),
            sourceIPAddress: string(.sourceIPAddress), sourceAddress: sourceAddress, userAgent: string(.userAgent),
            recipientAccountId: string(.recipientAccountId), errorCode: string(.errorCode),
            sessionCredentialFromConsole: sessionCredentialFromConsole, userIdentity: identity)
    }
}

extension CloudTrailDecoder {
    /// As `decode(_:into:)`, but each event is lent to `body` in place instead of being made and
    /// appended to `result.events`: a caller that reads a few fields of each event and keeps fewer
    /// (the detection rule) makes no string it does not keep. Errors are the same, in `result.errors`;
    /// `body` runs once per event, in order, after the whole record is read.
    public func decodeEach(
        _ bytes: UnsafeRawBufferPointer, into result: inout CloudTrailDecodeResult, _ body: (EventFields) throws -> Void
    ) rethrows {
        guard bytes.count <= limits.maxDecodedBytes else {
            return result.errors.append(.init(reason: .tooLarge))
        }
        guard Gzip.isGzip(bytes) else { return try lend(bytes, into: &result, body) }
        switch Gzip.inflate(bytes, limits: limits) {
        case .success(let inflated): try inflated.withUnsafeBytes { try lend($0, into: &result, body) }
        case .failure(let error): result.errors.append(error)
        }
    }

    public func decodeEach(
        _ bytes: [UInt8], into result: inout CloudTrailDecodeResult, _ body: (EventFields) throws -> Void
    ) rethrows {
        try bytes.withUnsafeBytes { try decodeEach($0, into: &result, body) }
    }

    private func lend(
        _ document: UnsafeRawBufferPointer, into result: inout CloudTrailDecodeResult, _ body: (EventFields) throws -> Void
    ) rethrows {
        let first = result.lent.count
        decodeDocument(document, into: &result, lending: true)
        guard let base = document.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        defer { result.lent.removeSubrange(first...) }
        for i in first..<result.lent.count {
            try body(EventFields(base: base, lent: result.lent[i], fields: fields))
        }
    }
}
