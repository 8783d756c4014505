/// Decides from the first few hundred bytes of an event that it cannot match a rule, so the events
/// that are irrelevant (most of them) are dropped without a full decode.
///
/// Conservative by construction: `mayMatch` returns false only when `CloudTrailDecoder` would yield
/// no event that `admits` accepts. It reads top-level keys in order, the small `userIdentity`
/// object, and stops as soon as the answer is known; CloudTrail writes `userIdentity` second and
/// `sourceIPAddress` seventh, so the large `requestParameters`/`responseElements` are never read.
/// Keys are read as the decoder reads them (`JSONScanner.key`, escaped ones unescaped). Anything it is
/// unsure of (gzip, arrays, envelopes, escaped or non-ASCII values, broken JSON) is a "maybe": the
/// full decoder then decides or reports the error.
public struct CloudTrailPrefilter: Sendable {
    /// Accepted `userIdentity.type` values, compared byte for byte; empty accepts any.
    public let identityTypes: [String]
    /// Accepted `userIdentity.accessKeyId` prefixes, compared byte for byte; empty accepts any.
    public let accessKeyPrefixes: [String]
    /// Whether `sourceIPAddress` must be an IP address (not a service name).
    public let requireSourceAddress: Bool
    /// Nesting bound while skipping; deeper input is a "maybe" (the decoder reports `too_deep`).
    public let maxDepth: Int

    private let types: [[UInt8]]
    private let prefixes: [[UInt8]]

    /// Defaults are the `seed` profile.
    public init(
        identityTypes: [String] = ["IAMUser", "AssumedRole"],
        accessKeyPrefixes: [String] = ["ASIA"],
        requireSourceAddress: Bool = true,
        maxDepth: Int = CloudTrailDecoder.Limits().maxDepth
    ) {
        self.identityTypes = identityTypes
        self.accessKeyPrefixes = accessKeyPrefixes
        self.requireSourceAddress = requireSourceAddress
        self.maxDepth = min(max(maxDepth, 1), 1024)
        self.types = identityTypes.map { Array($0.utf8) }
        self.prefixes = accessKeyPrefixes.map { Array($0.utf8) }
    }

    /// The seed profile: `IAMUser`/`AssumedRole`, `ASIA` keys, an IP address.
    public static let seed = CloudTrailPrefilter()

    /// The exact condition `mayMatch` approximates, on a decoded event (bytewise, like `mayMatch`).
    public func admits(_ event: CloudTrailEvent) -> Bool {
        let identity = event.userIdentity
        let typeOK = types.isEmpty || identity.type.map { t in types.contains { t.utf8.elementsEqual($0) } } ?? false
        let keyOK = prefixes.isEmpty
            || identity.accessKeyId.map { k in prefixes.contains { k.utf8.starts(with: $0) } } ?? false
        return typeOK && keyOK && (!requireSourceAddress || event.sourceAddress.isAddress)
    }

    public func mayMatch(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { mayMatch($0) }
    }

    public func mayMatch(_ bytes: some Collection<UInt8>) -> Bool {
        bytes.withContiguousStorageIfAvailable { mayMatch(UnsafeRawBufferPointer($0)) }
            ?? Array(bytes).withUnsafeBytes { mayMatch($0) }
    }

    /// False only if no event decoded from `bytes` can be admitted.
    public func mayMatch(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, !Gzip.isGzip(bytes) else { return true }
        var s = JSONScanner(base.assumingMemoryBound(to: UInt8.self), count: bytes.count, maxDepth: maxDepth)
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { s.pos = 3 }
        guard s.peek() == UInt8(ascii: "{") else { return true }
        do throws(ScanFailure) {
            return try scanEvent(&s)
        } catch {
            return true
        }
    }

    /// The verdict for the event object at the scanner's position (a copy: the caller's is not moved).
    func mayMatch(at scanner: JSONScanner) -> Bool {
        var s = scanner
        do throws(ScanFailure) {
            return try scanEvent(&s)
        } catch {
            return true
        }
    }

    /// Three facts decide; each is unknown (nil) until its key is read.
    private struct Facts {
        var isEvent = false
        var type: Bool?
        var key: Bool?
        var address: Bool?
    }

    private func scanEvent(_ s: inout JSONScanner) throws(ScanFailure) -> Bool {
        var facts = Facts()
        var sawIdentity = false
        var sawAddress = false
        s.pos += 1
        if s.peek() == UInt8(ascii: "}") { return false }
        repeat {
            switch try s.key(.event) {
            case .eventTime?, .eventVersion?:
                facts.isEvent = true
                try s.skipValue(depth: 1)
            case .records?, .detail?:
                // Without an event key so far, this object may turn out to be an envelope.
                guard facts.isEvent else { return true }
                try s.skipValue(depth: 1)
            case .userIdentity?:
                guard !sawIdentity else { try s.skipValue(depth: 1); break }
                sawIdentity = true
                facts.isEvent = true
                switch s.peek() {
                case UInt8(ascii: "{"):
                    guard let (type, key) = try scanIdentity(&s) else { return true }
                    facts.type = type
                    facts.key = key
                case UInt8(ascii: "n"):
                    try s.literal("null")
                    facts.type = types.isEmpty
                    facts.key = prefixes.isEmpty
                default:
                    return true
                }
            case .sourceIPAddress? where requireSourceAddress:
                guard !sawAddress else { try s.skipValue(depth: 1); break }
                sawAddress = true
                switch s.peek() {
                case UInt8(ascii: "\""):
                    let v = try s.scanString()
                    guard !v.hasEscapes else { return true }
                    let text = UnsafeRawBufferPointer(start: s.base + v.start, count: v.end - v.start)
                    facts.address = SourceAddress(parsingUTF8: text).isAddress
                case UInt8(ascii: "n"):
                    try s.literal("null")
                    facts.address = false
                default:
                    return true
                }
            default:
                try s.skipValue(depth: 1)
            }
            if facts.isEvent, facts.type == false || facts.key == false || facts.address == false { return false }
            if facts.type == true, facts.key == true, facts.address == true || !requireSourceAddress { return true }
        } while try s.nextOrClose(UInt8(ascii: "}"))
        // The whole object was read: a missing fact is an absent field, which the rule rejects.
        if !facts.isEvent { return false }
        return (facts.type ?? types.isEmpty) && (facts.key ?? prefixes.isEmpty)
            && (facts.address ?? !requireSourceAddress)
    }

    /// Whether `type` and `accessKeyId` of `userIdentity` (first occurrences) pass, or nil when unsure.
    /// Returns as soon as one fails: the first occurrence wins, so nothing later can change it.
    private func scanIdentity(_ s: inout JSONScanner) throws(ScanFailure) -> (Bool, Bool)? {
        var type: Bool?
        var key: Bool?
        s.pos += 1
        if s.peek() != UInt8(ascii: "}") {
            repeat {
                let field = try s.key(.identity)
                let isType = field == .type && type == nil
                let isKey = field == .accessKeyId && key == nil
                guard isType || isKey else { try s.skipValue(depth: 2); continue }
                var verdict: Bool
                switch s.peek() {
                case UInt8(ascii: "\""):
                    let v = try s.scanString()
                    guard !v.hasEscapes, s.isASCII(v) else { return nil }
                    verdict = isType
                        ? types.isEmpty || types.contains { s.equals(v, $0) }
                        : prefixes.isEmpty || prefixes.contains { s.starts(v, $0) }
                case UInt8(ascii: "n"):
                    try s.literal("null")
                    verdict = isType ? types.isEmpty : prefixes.isEmpty
                default:
                    return nil
                }
                if isType { type = verdict } else { key = verdict }
                if !verdict { return (type ?? true, key ?? true) }
            } while try s.nextOrClose(UInt8(ascii: "}"))
        }
        // Absent means null.
        return (type ?? types.isEmpty, key ?? prefixes.isEmpty)
    }
}

extension JSONScanner {
    @inline(__always)
    func equals(_ s: RawString, _ word: [UInt8]) -> Bool {
        guard s.end - s.start == word.count else { return false }
        for k in 0..<word.count where base[s.start + k] != word[k] { return false }
        return true
    }

    @inline(__always)
    func starts(_ s: RawString, _ prefix: [UInt8]) -> Bool {
        guard s.end - s.start >= prefix.count else { return false }
        for k in 0..<prefix.count where base[s.start + k] != prefix[k] { return false }
        return true
    }

    @inline(__always)
    func isASCII(_ s: RawString) -> Bool {
        for k in s.start..<s.end where base[k] >= 0x80 { return false }
        return true
    }
}
