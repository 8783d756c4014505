/// The fields the rules read, as places in the input rather than strings: a record that fails is
/// rejected before anything is allocated, and a skipped value is never copied.
enum Field: UInt8, CaseIterable {
    case eventTime, eventID, eventSource, eventName, eventCategory, awsRegion, sourceIPAddress
    case userAgent, recipientAccountId, errorCode, sessionCredentialFromConsole
    case type, arn, accountId, principalId, userName, accessKeyId, mfaAuthenticated, sessionIssuerArn
    // Objects on the way to the fields above, and the envelope keys of a top-level object.
    case userIdentity, sessionContext, attributes, sessionIssuer, eventVersion, records, detail

    var name: String {
        switch self {
        case .type, .arn, .accountId, .principalId, .userName, .accessKeyId, .sessionContext:
            return "userIdentity.\(self)"
        case .attributes: return "userIdentity.sessionContext.attributes"
        case .sessionIssuer: return "userIdentity.sessionContext.sessionIssuer"
        case .mfaAuthenticated: return "userIdentity.sessionContext.attributes.mfaAuthenticated"
        case .sessionIssuerArn: return "userIdentity.sessionContext.sessionIssuer.arn"
        case .records: return "Records"
        default: return "\(self)"
        }
    }
}

/// Key lookup: by length first, then bytes; a few comparisons per key.
enum KeyTable {
    @inline(__always)
    static func eq(_ p: UnsafePointer<UInt8>, _ word: StaticString) -> Bool {
        // Eight bytes at a time, then the tail: the callers know `p` holds as many bytes as `word`.
        let w = word.utf8Start
        let n = word.utf8CodeUnitCount
        var k = 0
        while k + 8 <= n {
            guard UnsafeRawPointer(p + k).loadUnaligned(as: UInt64.self) == UnsafeRawPointer(w + k).loadUnaligned(as: UInt64.self)
            else { return false }
            k += 8
        }
        while k < n {
            guard p[k] == w[k] else { return false }
            k += 1
        }
        return true
    }

    /// Keys of an event object (and of the envelopes that may wrap one).
    static func event(_ p: UnsafePointer<UInt8>, _ n: Int) -> Field? {
        switch n {
        case 6: return eq(p, "detail") ? .detail : nil
        case 7:
            if eq(p, "eventID") { return .eventID }
            return eq(p, "Records") ? .records : nil
        case 9:
            switch p[0] {
            case UInt8(ascii: "e"):
                if eq(p, "eventTime") { return .eventTime }
                if eq(p, "eventName") { return .eventName }
                return eq(p, "errorCode") ? .errorCode : nil
            case UInt8(ascii: "a"): return eq(p, "awsRegion") ? .awsRegion : nil
            case UInt8(ascii: "u"): return eq(p, "userAgent") ? .userAgent : nil
            default: return nil
            }
        case 11: return eq(p, "eventSource") ? .eventSource : nil
        case 12:
            if eq(p, "userIdentity") { return .userIdentity }
            return eq(p, "eventVersion") ? .eventVersion : nil
        case 13: return eq(p, "eventCategory") ? .eventCategory : nil
        case 15: return eq(p, "sourceIPAddress") ? .sourceIPAddress : nil
        case 18: return eq(p, "recipientAccountId") ? .recipientAccountId : nil
        case 28: return eq(p, "sessionCredentialFromConsole") ? .sessionCredentialFromConsole : nil
        default: return nil
        }
    }

    /// Keys of `userIdentity`.
    static func identity(_ p: UnsafePointer<UInt8>, _ n: Int) -> Field? {
        switch n {
        case 3: return eq(p, "arn") ? .arn : nil
        case 4: return eq(p, "type") ? .type : nil
        case 8: return eq(p, "userName") ? .userName : nil
        case 9: return eq(p, "accountId") ? .accountId : nil
        case 11:
            if eq(p, "accessKeyId") { return .accessKeyId }
            return eq(p, "principalId") ? .principalId : nil
        case 14: return eq(p, "sessionContext") ? .sessionContext : nil
        default: return nil
        }
    }

    /// Keys of `sessionContext`.
    static func sessionContext(_ p: UnsafePointer<UInt8>, _ n: Int) -> Field? {
        switch n {
        case 10: return eq(p, "attributes") ? .attributes : nil
        case 13: return eq(p, "sessionIssuer") ? .sessionIssuer : nil
        default: return nil
        }
    }
}

/// One event object as found: the first occurrence of each key wins, and the first problem with a
/// field is kept (the object is still scanned to its end so a batch can go on with the next member).
struct RawEvent {
    var seen: UInt64 = 0
    var spans = Spans()
    var consoleSession = false
    var mfaAuthenticated: Bool?
    var failure: (reason: CloudTrailDecodingError.Reason, field: Field)?

    /// Marks `field` seen; false if it was seen before (a duplicate key, which loses).
    @inline(__always)
    mutating func claim(_ field: Field) -> Bool {
        let bit: UInt64 = 1 << UInt64(field.rawValue)
        if seen & bit != 0 { return false }
        seen |= bit
        return true
    }

    @inline(__always)
    func has(_ field: Field) -> Bool { seen & (1 << UInt64(field.rawValue)) != 0 }

    /// A top-level object with any of these keys is an event, whatever envelope keys it also has.
    var isOwnEvent: Bool { has(.eventTime) || has(.eventVersion) || has(.userIdentity) }

    @inline(__always)
    mutating func fail(_ reason: CloudTrailDecodingError.Reason, _ field: Field) {
        if failure == nil { failure = (reason, field) }
    }

    /// The string fields, by `Field` raw value (only the string-valued ones are stored).
    struct Spans {
        var eventTime, eventID, eventSource, eventName, eventCategory, awsRegion, sourceIPAddress: RawString?
        var userAgent, recipientAccountId, errorCode: RawString?
        var type, arn, accountId, principalId, userName, accessKeyId, sessionIssuerArn: RawString?

        subscript(field: Field) -> RawString? {
            get {
                switch field {
                case .eventTime: return eventTime
                case .eventID: return eventID
                case .eventSource: return eventSource
                case .eventName: return eventName
                case .eventCategory: return eventCategory
                case .awsRegion: return awsRegion
                case .sourceIPAddress: return sourceIPAddress
                case .userAgent: return userAgent
                case .recipientAccountId: return recipientAccountId
                case .errorCode: return errorCode
                case .type: return type
                case .arn: return arn
                case .accountId: return accountId
                case .principalId: return principalId
                case .userName: return userName
                case .accessKeyId: return accessKeyId
                case .sessionIssuerArn: return sessionIssuerArn
                default: return nil
                }
            }
            set {
                switch field {
                case .eventTime: eventTime = newValue
                case .eventID: eventID = newValue
                case .eventSource: eventSource = newValue
                case .eventName: eventName = newValue
                case .eventCategory: eventCategory = newValue
                case .awsRegion: awsRegion = newValue
                case .sourceIPAddress: sourceIPAddress = newValue
                case .userAgent: userAgent = newValue
                case .recipientAccountId: recipientAccountId = newValue
                case .errorCode: errorCode = newValue
                case .type: type = newValue
                case .arn: arn = newValue
                case .accountId: accountId = newValue
                case .principalId: principalId = newValue
                case .userName: userName = newValue
                case .accessKeyId: accessKeyId = newValue
                case .sessionIssuerArn: sessionIssuerArn = newValue
                default: break
                }
            }
        }
    }
}
