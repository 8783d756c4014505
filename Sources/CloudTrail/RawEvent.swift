/// The fields the rules read, as places in the input rather than strings: a record that fails is
/// rejected before anything is allocated, and a skipped value is never copied.
enum Field: UInt8, CaseIterable {
    case eventTime, eventID, eventSource, eventName, eventCategory, awsRegion, sourceIPAddress
    case userAgent, recipientAccountId, errorCode, sessionCredentialFromConsole
    case type, arn, accountId, principalId, userName, accessKeyId, mfaAuthenticated, sessionIssuerArn
    case sessionCreationDate, sourceIdentity
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
        case .sessionCreationDate: return "userIdentity.sessionContext.attributes.creationDate"
        case .sourceIdentity: return "userIdentity.sessionContext.sourceIdentity"
        case .records: return "Records"
        default: return "\(self)"
        }
    }
}

/// The keys of one kind of object the decoder reads into, each with the field it holds (nil: a key
/// CloudTrail writes there that the decoder skips). One table per object kind is both the fast path
/// and the fallback:
/// - `match` recognises the bytes `key":` right after a key's opening quote by their first eight
///   bytes (one multiply, one table slot, then at most a few 8-byte compares), so a known key costs
///   no scan for its closing quote and no second look-up. A key that is not spelled exactly so (an
///   escape, a space before the colon, a key not listed) is not matched, and the scanner reads it
///   as any string.
/// - `field(_:_:)` looks up a key's (unescaped) bytes after such a scan: same table, same answer.
///
/// Keys are listed in the order CloudTrail writes them, and a reader passes a `hint` from key to key:
/// the key listed after the previous one is compared first, at its known length. When it is the one
/// (the usual case), the end of the key does not wait for a table look-up, so the scan of the value
/// after it starts at once; any other key is found through the table as before.
/// The tables are made once per process (the instances are static) and never freed: reading them
/// costs no reference counting and no bounds check in the scan's innermost step.
struct KnownKeys: @unchecked Sendable {
    /// A key of at least six bytes: `key":` is then eight or more, and its first eight pick a slot.
    /// Trivial, so reading a slot copies no reference.
    private struct Entry: Sendable {
        var head: UInt64 = 0
        /// The last eight bytes of `key":` (overlapping `head` when it is shorter than 16).
        var tail: UInt64 = 0
        /// Bytes of `key":` (0: an empty slot).
        var length: Int32 = 0
        /// Where bytes 8..<length-8 of `key":` start in `middles` (keys over 14 bytes), eight at a time.
        var middle: Int16 = 0
        /// Its place in `ordered`.
        var order: Int16 = 0
        var field: Field?
    }

    /// Keys of up to five bytes: their `key":` is compared under a mask.
    private struct Short: Sendable {
        var mask: UInt64
        var head: UInt64
        var length: Int
        var order: Int
        var field: Field?
    }

    /// Every key in the order listed: a long one as in `slots`, a short one with its mask as `tail`.
    private let ordered: UnsafeBufferPointer<Entry>
    private let slots: UnsafeBufferPointer<Entry>
    private let middles: UnsafeBufferPointer<UInt64>
    private let shorts: UnsafeBufferPointer<Short>
    private let multiplier: UInt64
    private let shift: UInt64
    /// Every listed key and its field, for `field(_:_:)`.
    let keys: [(key: [UInt8], field: Field?)]

    /// `keys`: each key (ASCII, no `"` or backslash) and its field. Every multiplier tried is odd and
    /// fixed, so the table is the same in every process.
    init(_ keys: KeyValuePairs<String, Field?>) {
        self.keys = keys.map { (Array($0.key.utf8), $0.value) }
        @inline(__always) func word(_ b: [UInt8], _ at: Int, _ count: Int = 8) -> UInt64 {
            var w: UInt64 = 0
            for k in 0..<count { w |= UInt64(b[at + k]) << (8 * UInt64(k)) }
            return w
        }
        var shorts: [Short] = []
        var entries: [Entry] = []
        var ordered: [Entry] = []
        var middles: [UInt64] = []
        for (key, field) in self.keys {
            let pattern = key + Array("\":".utf8)
            let n = pattern.count
            let order = ordered.count
            if n < 8 {
                let mask: UInt64 = (1 << (8 * UInt64(n))) - 1
                shorts.append(Short(mask: mask, head: word(pattern, 0, n), length: n, order: order, field: field))
                ordered.append(Entry(
                    head: word(pattern, 0, n), tail: mask, length: Int32(n), order: Int16(order), field: field))
                continue
            }
            let middle = Int16(middles.count)
            middles += stride(from: 8, to: n - 8, by: 8).map { word(pattern, $0) }
            let entry = Entry(
                head: word(pattern, 0), tail: word(pattern, n - 8), length: Int32(n), middle: middle,
                order: Int16(order), field: field)
            entries.append(entry)
            ordered.append(entry)
        }
        /// A copy that lives as long as the process (see the type's note).
        func permanent<T>(_ array: [T]) -> UnsafeBufferPointer<T> {
            let copy = UnsafeMutableBufferPointer<T>.allocate(capacity: max(array.count, 1))
            _ = copy.initialize(from: array)
            return UnsafeBufferPointer(rebasing: copy[0..<array.count])
        }
        self.shorts = permanent(shorts)
        self.ordered = permanent(ordered)
        self.middles = permanent(middles)
        precondition(Set(entries.map(\.head)).count == entries.count, "two keys share their first eight bytes")
        var bits: UInt64 = 4
        while (1 << bits) < 2 * max(entries.count, 1) { bits += 1 }
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for attempt in 1... {
            if attempt % 1000 == 0 { bits += 1 }
            // splitmix64: a fixed sequence of odd candidates.
            seed &+= 0x9E37_79B9_7F4A_7C15
            var z = seed
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            let m = (z ^ (z >> 31)) | 1
            var slots = [Entry](repeating: Entry(), count: 1 << Int(bits))
            var clash = false
            for e in entries {
                let h = Int((e.head &* m) >> (64 - bits))
                if slots[h].length != 0 { clash = true; break }
                slots[h] = e
            }
            if !clash {
                self.slots = permanent(slots)
                self.multiplier = m
                self.shift = 64 - bits
                return
            }
        }
        fatalError("unreachable: the attempts are unbounded")
    }

    /// The `key":` at `base[at...]` (`at` just past the key's opening quote): the bytes it spans
    /// and its field, or nil when it is not one of these keys spelled exactly so.
    @inline(__always)
    func match(_ base: UnsafePointer<UInt8>, at: Int, end: Int) -> (length: Int, field: Field?)? {
        var hint = Int.max
        return match(base, at: at, end: end, hint: &hint)
    }

    /// As `match(_:at:end:)`, trying the key listed at `hint` first; `hint` then names the key
    /// listed after the one found (unchanged when none is).
    @inline(__always)
    func match(_ base: UnsafePointer<UInt8>, at: Int, end: Int, hint: inout Int) -> (length: Int, field: Field?)? {
        // Offsets are below the input's length (at most 4 GiB, see `JSONScanner.init`): no overflow.
        guard at &+ 8 <= end else { return nil }
        let w = UnsafeRawPointer(base + at).loadUnaligned(as: UInt64.self)
        if hint < ordered.count {
            let e = ordered[hint]
            let length = Int(e.length)
            if length < 8 {
                if w & e.tail == e.head {
                    hint &+= 1
                    return (length, e.field)
                }
            } else if e.head == w, at &+ length <= end,
                      UnsafeRawPointer(base + (at &+ length &- 8)).loadUnaligned(as: UInt64.self) == e.tail,
                      middleMatches(base, at: at, e) {
                hint &+= 1
                return (length, e.field)
            }
        }
        for s in shorts where w & s.mask == s.head {
            hint = s.order &+ 1
            return (s.length, s.field)
        }
        let e = slots[Int(truncatingIfNeeded: (w &* multiplier) &>> shift)]
        let length = Int(e.length)
        guard e.head == w, length != 0, at &+ length <= end,
              UnsafeRawPointer(base + (at &+ length &- 8)).loadUnaligned(as: UInt64.self) == e.tail,
              middleMatches(base, at: at, e)
        else { return nil }
        hint = Int(e.order) &+ 1
        return (length, e.field)
    }

    /// Bytes 8..<length-8 of the `key":` of `e` at `base[at...]` (already known to be in the input).
    @inline(__always)
    private func middleMatches(_ base: UnsafePointer<UInt8>, at: Int, _ e: Entry) -> Bool {
        var k = 8
        var m = Int(e.middle)
        while k < Int(e.length) &- 8 {
            guard UnsafeRawPointer(base + (at &+ k)).loadUnaligned(as: UInt64.self) == middles[m] else { return false }
            k &+= 8
            m &+= 1
        }
        return true
    }

    /// The field of a key given as its bytes (unescaped, without quotes); nil for any other key.
    func field(_ p: UnsafePointer<UInt8>, _ n: Int) -> Field? {
        for (key, field) in keys where key.count == n {
            if key.indices.allSatisfy({ key[$0] == p[$0] }) { return field }
        }
        return nil
    }

    /// Keys of an event object (and of the envelopes that may wrap one), with the top-level keys
    /// CloudTrail writes that the decoder skips (`vpcEndpointAccountId` is not listed: it begins as
    /// `vpcEndpointId` does, and a key not listed is only slower).
    static let event = KnownKeys([
        "eventVersion": .eventVersion, "userIdentity": .userIdentity, "eventTime": .eventTime,
        "eventSource": .eventSource, "eventName": .eventName, "awsRegion": .awsRegion,
        "sourceIPAddress": .sourceIPAddress, "userAgent": .userAgent, "errorCode": .errorCode,
        "errorMessage": nil, "requestParameters": nil, "responseElements": nil, "additionalEventData": nil,
        "requestID": nil, "eventID": .eventID, "readOnly": nil, "resources": nil, "eventType": nil,
        "apiVersion": nil, "managementEvent": nil, "recipientAccountId": .recipientAccountId,
        "sharedEventID": nil, "vpcEndpointId": nil, "serviceEventDetails": nil, "eventCategory": .eventCategory,
        "tlsDetails": nil, "sessionCredentialFromConsole": .sessionCredentialFromConsole, "eventContext": nil,
        "edgeDeviceDetails": nil, "insightDetails": nil, "addendum": nil, "Records": .records, "detail": .detail,
    ])

    /// Keys of `userIdentity`.
    static let identity = KnownKeys([
        "type": .type, "principalId": .principalId, "arn": .arn, "accountId": .accountId,
        "accessKeyId": .accessKeyId, "userName": .userName, "sessionContext": .sessionContext,
        "invokedBy": nil, "credentialId": nil, "identityProvider": nil, "onBehalfOf": nil, "inScopeOf": nil,
    ])

    /// Keys of `userIdentity.sessionContext`.
    static let sessionContext = KnownKeys([
        "sessionIssuer": .sessionIssuer, "attributes": .attributes, "webIdFederationData": nil,
        "sourceIdentity": .sourceIdentity, "ec2RoleDelivery": nil, "assumedRoot": nil,
    ])

    /// Keys of `userIdentity.sessionContext.sessionIssuer`.
    static let sessionIssuer = KnownKeys([
        "arn": .sessionIssuerArn, "type": nil, "principalId": nil, "accountId": nil, "userName": nil,
    ])

    /// Keys of `userIdentity.sessionContext.attributes`.
    static let attributes = KnownKeys(["mfaAuthenticated": .mfaAuthenticated, "creationDate": .sessionCreationDate])
}

/// One event object as found: the first occurrence of each key wins, and the first problem with a
/// field is kept (the object is still scanned to its end so a batch can go on with the next member).
struct RawEvent {
    var seen: UInt64 = 0
    var spans = Spans()
    /// Every span kept so far is ASCII without escapes.
    var plain = true
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
        var sessionCreationDate, sourceIdentity: RawString?

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
                case .sessionCreationDate: return sessionCreationDate
                case .sourceIdentity: return sourceIdentity
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
                case .sessionCreationDate: sessionCreationDate = newValue
                case .sourceIdentity: sourceIdentity = newValue
                default: break
                }
            }
        }
    }
}
