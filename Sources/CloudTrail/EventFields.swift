/// An event `finish` checked but did not make: where its fields are in the input.
struct LentEvent: Sendable {
    var raw: RawEvent
    var eventTime: EventTime
    var sourceAddress: SourceAddress
    /// The unescaped bytes of the fields the input escapes; nil for the usual event without escapes.
    var unescaped: UnescapedFields?
}

/// Unescaped copies of escaped fields, in memory of their own so `EventFields.utf8` can lend them
/// like the input. Immutable once made.
final class UnescapedFields: @unchecked Sendable {
    private let fields: [(Field, UnsafeMutableBufferPointer<UInt8>, isASCII: Bool)]

    init(_ texts: [(Field, [UInt8])]) {
        fields = texts.map { field, bytes in
            let copy = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(bytes.count, 1))
            _ = copy.initialize(from: bytes)
            return (field, UnsafeMutableBufferPointer(rebasing: copy[0..<bytes.count]), bytes.allSatisfy { $0 < 0x80 })
        }
    }

    deinit {
        for (_, bytes, _) in fields { bytes.baseAddress.map { UnsafeMutablePointer($0).deallocate() } }
    }

    func bytes(_ field: Field) -> (UnsafeBufferPointer<UInt8>, isASCII: Bool)? {
        for (f, bytes, ascii) in fields where f == field { return (UnsafeBufferPointer(bytes), ascii) }
        return nil
    }
}

/// One event `CloudTrailDecoder.decodeEach` lends to its body: the same fields a `CloudTrailEvent`
/// from the same decoder would hold, read in place. Valid only inside that body (it points into the
/// record being decoded); copy out what must outlive it with `string(_:)` or `event()`.
///
/// Every string field the decoder's `fields` lists was already checked (escapes, UTF-8), exactly as
/// when making a `CloudTrailEvent`, so nothing here can fail.
public struct EventFields {
    let base: UnsafePointer<UInt8>
    /// The event's places, in the decode result's `lent` list, read through a pointer: an
    /// `EventFields` is then three words, and handing one on (the rule's `KeptEvent`, the detector)
    /// copies no spans (with the spans inline, ~250 bytes were copied about seven times per event).
    let place: UnsafePointer<LentEvent>
    let fields: CloudTrailDecoder.Fields

    public var eventTime: EventTime { place.pointee.eventTime }
    /// `sourceIPAddress` classified, as `CloudTrailEvent.sourceAddress`.
    public var sourceAddress: SourceAddress { place.pointee.sourceAddress }
    public var sessionCredentialFromConsole: Bool { place.pointee.raw.consoleSession }
    /// `userIdentity.sessionContext.attributes.mfaAuthenticated`, as `UserIdentity.mfaAuthenticated`.
    public var mfaAuthenticated: Bool? { place.pointee.raw.mfaAuthenticated }

    @inline(__always)
    private func span(_ field: CloudTrailDecoder.Fields) -> (RawString, Field)? {
        guard let f = Field(rawValue: UInt8(truncatingIfNeeded: field.rawValue.trailingZeroBitCount)),
              fields.contains(f), let s = place.pointee.raw.spans[f] else { return nil }
        return (s, f)
    }

    /// The field's UTF-8 bytes (one field of `CloudTrailDecoder.Fields`), unescaped; nil when
    /// absent, null, or not among the decoder's `fields`, as in `CloudTrailEvent`. The bytes are
    /// lent like the event: valid only inside `decodeEach`'s body.
    public func utf8(_ field: CloudTrailDecoder.Fields) -> UnsafeBufferPointer<UInt8>? {
        guard let (s, f) = span(field) else { return nil }
        if s.hasEscapes { return place.pointee.unescaped?.bytes(f)?.0 }
        return UnsafeBufferPointer(start: base + s.start, count: s.end - s.start)
    }

    /// The field's text; nil when `utf8(field)` is nil.
    public func string(_ field: CloudTrailDecoder.Fields) -> String? {
        guard let (s, f) = span(field) else { return nil }
        if s.hasEscapes {
            guard let (bytes, ascii) = place.pointee.unescaped?.bytes(f) else { return nil }
            return UTF8Text.uncheckedString(bytes, isASCII: ascii)
        }
        return UTF8Text.uncheckedString(UnsafeBufferPointer(start: base + s.start, count: s.end - s.start), isASCII: s.isASCII)
    }

    /// The `CloudTrailEvent` the same decoder makes with `decode`.
    public func event() -> CloudTrailEvent {
        let identity = UserIdentity(
            type: string(.type), arn: string(.arn), accountId: string(.accountId), principalId: string(.principalId),
            userName: string(.userName), accessKeyId: string(.accessKeyId), mfaAuthenticated: place.pointee.raw.mfaAuthenticated,
            sessionIssuerArn: string(.sessionIssuerArn), sessionCreationDate: string(.sessionCreationDate),
            sourceIdentity: string(.sourceIdentity))
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
        // One or a few events: `removeLast` each is cheaper than the general `removeSubrange`.
        defer { while result.lent.count > first { result.lent.removeLast() } }
        // `body` cannot reach `result` (it is passed on inout), so the list stays where it is.
        try result.lent.withUnsafeBufferPointer { events in
            for i in first..<events.count {
                try body(EventFields(base: base, place: events.baseAddress! + i, fields: fields))
            }
        }
    }
}
