public import CloudTrail

/// What the rule reads of an event: a made `CloudTrailEvent`, or one lent in place by
/// `CloudTrailDecoder.decodeEach` (`EventFields`). One generic `DetectionRule.evaluate` serves both,
/// so they cannot disagree.
protocol RuleInput {
    var eventTime: EventTime { get }
    var sourceAddress: SourceAddress { get }
    var sessionCredentialFromConsole: Bool { get }
    /// `userIdentity.sessionContext.attributes.mfaAuthenticated`.
    var mfaAuthenticated: Bool? { get }
    /// One string field (a single member of `CloudTrailDecoder.Fields`); nil when absent.
    func string(_ field: CloudTrailDecoder.Fields) -> String?
    /// `body` over the field's UTF-8 bytes; nil when absent.
    func withUTF8<R>(_ field: CloudTrailDecoder.Fields, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R?
}

extension EventFields: RuleInput {
    @inline(__always)
    func withUTF8<R>(_ field: CloudTrailDecoder.Fields, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        utf8(field).map(body)
    }
}

extension CloudTrailEvent: RuleInput {
    var mfaAuthenticated: Bool? { userIdentity.mfaAuthenticated }

    func string(_ field: CloudTrailDecoder.Fields) -> String? {
        switch field {
        case .type: userIdentity.type
        case .arn: userIdentity.arn
        case .accountId: userIdentity.accountId
        case .principalId: userIdentity.principalId
        case .userName: userIdentity.userName
        case .accessKeyId: userIdentity.accessKeyId
        case .sessionIssuerArn: userIdentity.sessionIssuerArn
        case .sessionCreationDate: userIdentity.sessionCreationDate
        case .sourceIdentity: userIdentity.sourceIdentity
        case .eventID: eventID
        case .eventSource: eventSource
        case .eventName: eventName
        case .eventCategory: eventCategory
        case .awsRegion: awsRegion
        case .sourceIPAddress: sourceIPAddress
        case .userAgent: userAgent
        case .recipientAccountId: recipientAccountId
        case .errorCode: errorCode
        default: nil
        }
    }

    func withUTF8<R>(_ field: CloudTrailDecoder.Fields, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        guard var text = string(field) else { return nil }
        return text.withUTF8(body)
    }
}

/// Membership in a set of strings, tested on UTF-8 bytes with `String`'s own answer: bytes when
/// the candidate and every member are ASCII (where `String` equality is byte equality), otherwise
/// through `String` (canonical equivalence).
struct TextSet: Sendable {
    let strings: Set<String>
    /// Every member's bytes, when every member is ASCII.
    private let ascii: [[UInt8]]?

    init(_ strings: Set<String>) {
        self.strings = strings
        ascii = strings.allSatisfy { $0.utf8.allSatisfy { $0 < 0x80 } } ? strings.map { Array($0.utf8) } : nil
    }

    func contains(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let ascii, UTF8Text.isASCII(bytes) else { return strings.contains(String(decoding: bytes, as: UTF8.self)) }
        for member in ascii where member.count == bytes.count {
            if member.withUnsafeBufferPointer({ $0.elementsEqual(bytes) }) { return true }
        }
        return false
    }
}

/// `String.hasPrefix` against a list of prefixes, on UTF-8 bytes; as `TextSet`, bytes only where
/// everything is ASCII.
struct TextPrefixes: Sendable {
    let prefixes: [String]
    private let ascii: [[UInt8]]?

    init(_ prefixes: [String]) {
        self.prefixes = prefixes
        // A carriage return is left to `String`: before a line feed it is part of one `Character`.
        ascii = prefixes.allSatisfy { $0.utf8.allSatisfy { $0 < 0x80 && $0 != 0x0D } } ? prefixes.map { Array($0.utf8) } : nil
    }

    /// Whether `bytes` starts with any of the prefixes.
    func hasPrefix(of bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let ascii, UTF8Text.isASCII(bytes) else {
            let text = String(decoding: bytes, as: UTF8.self)
            return prefixes.contains { text.hasPrefix($0) }
        }
        for prefix in ascii where prefix.count <= bytes.count {
            if prefix.withUnsafeBufferPointer({ $0.elementsEqual(bytes.prefix(prefix.count)) }) { return true }
        }
        return false
    }
}
