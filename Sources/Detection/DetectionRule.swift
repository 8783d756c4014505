public import CloudTrail

/// Why the rule did not keep an event. The raw value is stable: use it as a metric label.
public enum RejectReason: String, Error, Sendable, Hashable, CaseIterable {
    case identityType = "identity_type"
    case missingPrincipalArn = "missing_principal_arn"
    case accessKeyPrefix = "access_key_prefix"
    case notAnAddress = "not_an_address"
    case excludedUserAgent = "excluded_user_agent"
    case excludedEventSource = "excluded_event_source"
    case consoleSession = "console_session"
    case allowlistedAddress = "allowlisted_address"
    case allowlistedPrincipal = "allowlisted_principal"
    /// The principal's account is in `rule.allowed_accounts`.
    case allowlistedAccount = "allowlisted_account"
    /// `eventTime` outside `EventTime.acceptedRange`.
    case eventTimeOutOfRange = "event_time_out_of_range"
    /// The address's AS organisation is excluded (`AMAZON-AES`; `AMAZON-02` for `Data` events).
    case excludedNetwork = "excluded_network"
    /// An entry of `rule.exceptions_file` matched (`tokentrail_exception_matches_total` says which).
    case exception = "exception"

    /// The metric label (same as `rawValue`).
    public var label: String { rawValue }
}

/// The stateless half of the rule: which events count, turned into compact `Observation`s.
///
/// The route stage (or the detect stage on keyed input) calls `evaluate` on every decoded event;
/// everything it keeps goes to `WindowedDetector.process`.
public struct DetectionRule: Sendable {
    public let configuration: RuleConfiguration
    /// Looks up each kept event's address (after every cheaper test passed); nil: no enrichment.
    public let enricher: (any AddressEnricher)?
    /// `rule.exceptions_file`, reloaded on change; nil: none.
    public let exceptions: (any RuleExceptionsSource)?
    private let userAgentNeedles: [[UInt8]]
    private let allowedAccounts: TextSet
    private let identityTypes: TextSet
    private let excludedEventSources: TextSet
    private let accessKeyPrefixes: TextPrefixes

    public init(_ configuration: RuleConfiguration = .seed, enricher: (any AddressEnricher)? = nil,
                exceptions: (any RuleExceptionsSource)? = nil) {
        self.configuration = configuration
        self.enricher = enricher
        self.exceptions = exceptions
        allowedAccounts = TextSet(configuration.allowedAccounts)
        identityTypes = TextSet(configuration.identityTypes)
        excludedEventSources = TextSet(configuration.excludedEventSources)
        accessKeyPrefixes = TextPrefixes(configuration.accessKeyPrefixes)
        userAgentNeedles = configuration.excludedUserAgentSubstrings
            .map { Array($0.utf8).map(Self.asciiLower) }
            .filter { !$0.isEmpty }
    }

    /// The `CloudTrailEvent` string fields `evaluate` reads: a decoder feeding the rule makes only
    /// these (`CloudTrailDecoder(fields:)`), sparing a heap string per event for each of the others
    /// (`principalId`, `userName`, `errorCode`, the `sourceIPAddress` text). The session's issuer,
    /// creation date and source identity are read for a kept event only (the alert's `session`).
    /// `RuleFieldsTests` (SimulationTests) checks that evaluating events decoded with only these
    /// fields changes nothing.
    public static let fieldsRead: CloudTrailDecoder.Fields = [
        .type, .arn, .accountId, .accessKeyId, .userAgent, .eventSource, .eventName, .eventCategory,
        .awsRegion, .recipientAccountId, .eventID, .sessionIssuerArn, .sessionCreationDate, .sourceIdentity,
    ]

    /// Keeps `event` as an `Observation` stamped with where the raw event came from, or says why not.
    public func evaluate(_ event: CloudTrailEvent, origin: EventOrigin) -> Result<Observation, RejectReason> {
        evaluate(input: event, origin: origin, exceptions: exceptionsInForce())
    }

    /// The exceptions in force now (`exceptions.current()`); nil without an exceptions file. A caller
    /// applying the rule to many events reads this once per batch and passes it to `keep(_:exceptions:)`.
    public func exceptionsInForce() -> RuleExceptions? { exceptions?.current() }

    /// The same for an event lent by `CloudTrailDecoder.decodeEach`: the tests read its bytes in
    /// place, and strings are made only for an event that is kept (one in four of a typical trail is
    /// not). Same answer as `evaluate(event.event(), origin:)`: both run one generic implementation
    /// (`RuleInput`); `LentRuleTests` (SimulationTests) compares them over the simulator's mix and edge
    /// cases, and `HotPathTests` checks its byte tests against `String`'s.
    public func evaluate(_ event: EventFields, origin: EventOrigin) -> Result<Observation, RejectReason> {
        evaluate(input: event, origin: origin, exceptions: exceptionsInForce())
    }

    /// Route stage (unkeyed input), lent: the same decision as `evaluate`, and for a kept event what
    /// the repartition topic needs without making its strings: `ObservationBatch.append(_:origin:)`
    /// encodes it from the input's bytes, byte for byte what `append(evaluate(...))` writes.
    public func keep(_ event: EventFields) -> Result<KeptEvent, RejectReason> {
        keep(event, exceptions: exceptionsInForce())
    }

    /// The same with the exceptions read once for a batch (`exceptionsInForce()`).
    public func keep(_ event: EventFields, exceptions: RuleExceptions?) -> Result<KeptEvent, RejectReason> {
        check(event, exceptions: exceptions).map { KeptEvent(event: event, verdict: $0, groupingKey: configuration.groupingKey) }
    }

    /// What the rule decided about a kept event, besides the event itself.
    struct Verdict {
        /// Normalised (`AddressNormalization`).
        var address: SourceAddress
        var enrichment: AddressEnrichment?
    }

    /// Every test of the rule, in order; reads the event's bytes and makes no string.
    private func check<E: RuleInput>(_ event: E, exceptions: RuleExceptions?) -> Result<Verdict, RejectReason> {
        guard EventTime.acceptedRange.contains(event.eventTime) else { return .failure(.eventTimeOutOfRange) }
        guard event.withUTF8(.type, { identityTypes.contains($0) }) == true else { return .failure(.identityType) }
        guard event.withUTF8(.arn, { !$0.isEmpty }) == true else { return .failure(.missingPrincipalArn) }
        guard event.withUTF8(.accessKeyId, { accessKeyPrefixes.hasPrefix(of: $0) }) == true else {
            return .failure(.accessKeyPrefix)
        }
        if case .notAnAddress = event.sourceAddress { return .failure(.notAnAddress) }
        if event.withUTF8(.userAgent, { isExcluded(userAgentBytes: $0) }) == true { return .failure(.excludedUserAgent) }
        if event.withUTF8(.eventSource, { excludedEventSources.contains($0) }) == true {
            return .failure(.excludedEventSource)
        }
        if configuration.excludeConsoleSessions, event.sessionCredentialFromConsole {
            return .failure(.consoleSession)
        }
        if configuration.allowedNetworks.contains(where: { $0.contains(event.sourceAddress) }) {
            return .failure(.allowlistedAddress)
        }
        if !configuration.allowedPrincipals.isEmpty, event.withUTF8(.arn, { arn in
            configuration.allowedPrincipals.contains { $0.matches(utf8: arn) }
        }) == true {
            return .failure(.allowlistedPrincipal)
        }
        if !configuration.allowedAccounts.isEmpty, Self.principalAccount(of: event, { allowedAccounts.contains($0) }) == true {
            return .failure(.allowlistedAccount)
        }
        let enrichment = enricher?.enrich(event.sourceAddress)
        if let organization = enrichment?.asOrganization {
            if configuration.excludedNetworkOrganizations.contains(organization) { return .failure(.excludedNetwork) }
            if event.withUTF8(.eventCategory, { Self.dataCategory.contains($0) }) == true,
               configuration.excludedDataEventNetworkOrganizations.contains(organization) {
                return .failure(.excludedNetwork)
            }
        }
        // Last: an exception counts (tokentrail_exception_matches_total) only events that would have counted.
        if let exceptions, !exceptions.isEmpty, exceptions.firstMatch(event, enrichment: enrichment) != nil {
            return .failure(.exception)
        }
        return .success(Verdict(address: configuration.addressNormalization.normalize(event.sourceAddress),
                                enrichment: enrichment))
    }

    private func evaluate<E: RuleInput>(input event: E, origin: EventOrigin, exceptions: RuleExceptions?) -> Result<Observation, RejectReason> {
        let verdict: Verdict
        switch check(event, exceptions: exceptions) {
        case .success(let kept): verdict = kept
        case .failure(let reason): return .failure(reason)
        }
        let arn = event.string(.arn)!
        let key = event.string(.accessKeyId)!
        let groupingKey: String
        switch configuration.groupingKey {
        case .principalArn: groupingKey = arn
        case .accessKeyId: groupingKey = key
        }
        return .success(Observation(
            groupingKey: groupingKey,
            principalArn: arn,
            principalType: event.string(.type)!,
            accountId: event.string(.accountId) ?? event.string(.recipientAccountId),
            address: verdict.address,
            accessKeyId: key,
            userAgent: event.string(.userAgent),
            eventSource: event.string(.eventSource),
            eventName: event.string(.eventName),
            awsRegion: event.string(.awsRegion),
            eventTime: event.eventTime,
            eventID: event.string(.eventID),
            origin: origin,
            enrichment: verdict.enrichment,
            session: SessionFacts(event)
        ))
    }

    private static let dataCategory = TextSet(["Data"])

    /// `body` over the principal's account id: `userIdentity.accountId`, or when that is absent or
    /// empty the account field of `userIdentity.arn` (`arn:aws:sts::123456789012:assumed-role/...`).
    /// Never `recipientAccountId`: that is the account whose API was called, which for a stolen token
    /// used across accounts is the victim, not the principal an allowlist or an exception vouches for.
    /// Nil when neither names an account.
    static func principalAccount<E: RuleInput, R>(of event: E, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        if let r = event.withUTF8(.accountId, { $0.isEmpty ? nil : body($0) }), let r { return r }
        return event.withUTF8(.arn) { arn -> R? in
            // arn:partition:service:region:account:resource: the text between the 4th and 5th colons.
            var colons = 0
            var start = 0
            for i in arn.indices where arn[i] == UInt8(ascii: ":") {
                colons += 1
                if colons == 4 { start = i + 1 }
                if colons == 5 {
                    guard i > start else { return nil }
                    return body(UnsafeBufferPointer(rebasing: arn[start..<i]))
                }
            }
            return nil
        } ?? nil
    }

    /// Whether any of `needles` (non-empty, already ASCII-lowercased) occurs in `hay` ignoring ASCII case.
    static func containsIgnoringASCIICase(_ needles: [[UInt8]], in hay: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = hay.baseAddress else { return false }
        for needle in needles {
            if needle.withUnsafeBufferPointer({ find($0, in: base, count: hay.count) }) { return true }
        }
        return false
    }

    /// ASCII case-insensitive substring search; user agents are ASCII in practice, and this avoids
    /// lowercasing (allocating) every user agent on the hot path.
    func isExcluded(userAgent: String) -> Bool {
        var text = userAgent
        return text.withUTF8 { isExcluded(userAgentBytes: $0) }
    }

    func isExcluded(userAgentBytes bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        !userAgentNeedles.isEmpty && contains(needlesIn: bytes)
    }

    private func contains(needlesIn hay: UnsafeBufferPointer<UInt8>) -> Bool {
        Self.containsIgnoringASCIICase(userAgentNeedles, in: hay)
    }

    /// Whether `needle` (non-empty, already ASCII-lowercased) occurs in `hay` ignoring ASCII case.
    ///
    /// Candidate starts are found sixteen at a time where the needle has two bytes or more (a byte
    /// equal to its first and the next to its second, either case: `SIMD16` compares, read as two
    /// words as `JSONScanner.scanString` does), then eight at a time on the first byte alone (SWAR
    /// zero-byte test); each candidate is then compared in full. The zero-byte test flags every true
    /// candidate (and, after one, possibly a false one), so checking each flagged position is exact.
    private static func find(_ needle: UnsafeBufferPointer<UInt8>, in hay: UnsafePointer<UInt8>, count n: Int) -> Bool {
        let m = needle.count
        guard m <= n, let np = needle.baseAddress else { return false }
        let last = n - m  // the last possible start
        let first = np[0]
        // From the first byte: a flagged position may be a false candidate (see above).
        @inline(__always) func matches(at start: Int) -> Bool {
            var j = 0
            while j < m {
                guard asciiLower(hay[start + j]) == np[j] else { return false }
                j += 1
            }
            return true
        }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        // A lowercase letter is matched by itself and its uppercase form: OR-ing 0x20 into the hay maps
        // exactly those two bytes (and no other) onto it. Any other first byte matches only itself.
        @inline(__always) func isLetter(_ b: UInt8) -> Bool { b &- UInt8(ascii: "a") < 26 }
        let fold: UInt64 = isLetter(first) ? ones &* 0x20 : 0
        let pattern = ones &* UInt64(first)
        var i = 0
        #if _endian(little)  // the two words' bytes in lane order
        if m >= 2 {
            let second = np[1]
            let firsts = SIMD16<UInt8>(repeating: first)
            let seconds = SIMD16<UInt8>(repeating: second)
            let fold1 = SIMD16<UInt8>(repeating: isLetter(first) ? 0x20 : 0)
            let fold2 = SIMD16<UInt8>(repeating: isLetter(second) ? 0x20 : 0)
            // Bytes i..<i+16 against the first byte, i+1..<i+17 against the second.
            while i &+ 17 <= n {
                let a = UnsafeRawPointer(hay + i).loadUnaligned(as: SIMD16<UInt8>.self) | fold1
                let b = UnsafeRawPointer(hay + (i &+ 1)).loadUnaligned(as: SIMD16<UInt8>.self) | fold2
                let lanes = unsafeBitCast((a .== firsts) .& (b .== seconds), to: SIMD2<UInt64>.self)
                // One bit per flagged byte: byte k at bit 8k, byte 8 + k at bit 8k + 4.
                var hits = (lanes[0] & ones) | (lanes[1] & ones) << 4
                while hits != 0 {
                    let bit = hits.trailingZeroBitCount
                    let start = i &+ bit &>> 3 &+ (bit & 4 == 0 ? 0 : 8)
                    if start <= last, matches(at: start) { return true }
                    hits &= hits &- 1
                }
                i &+= 16
            }
        }
        #endif
        while i + 8 <= n {
            let x = (UInt64(littleEndian: UnsafeRawPointer(hay + i).loadUnaligned(as: UInt64.self)) | fold) ^ pattern
            var hits = (x &- ones) & ~x & highs
            while hits != 0 {
                let start = i + hits.trailingZeroBitCount >> 3
                guard start <= last else { return false }
                if matches(at: start) { return true }
                hits &= hits &- 1
            }
            i += 8
        }
        while i <= last {
            if matches(at: i) { return true }
            i += 1
        }
        return false
    }

    @inline(__always)
    static func asciiLower(_ byte: UInt8) -> UInt8 {
        byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
    }
}

/// Where a raw event was read: the pivot from an alert back to the original log record.
public struct EventOrigin: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// The compact record a matching event becomes: only what windows and alerts need.
///
/// In the unkeyed deployment the route stage sends it through the repartition topic with
/// `encode()`, keyed by `groupingKey`; the detect stage reads it back with `init(decoding:)`.
public struct Observation: Sendable, Hashable {
    /// Principal ARN or access key id, per `RuleConfiguration.groupingKey`; the record key.
    public var groupingKey: String
    public var principalArn: String
    public var principalType: String
    public var accountId: String?
    /// Already normalised (see `AddressNormalization`); never `.notAnAddress` when made by the rule.
    public var address: SourceAddress
    public var accessKeyId: String
    public var userAgent: String?
    public var eventSource: String?
    public var eventName: String?
    public var awsRegion: String?
    public var eventTime: EventTime
    public var eventID: String?
    /// Topic, partition and offset of the raw CloudTrail record.
    public var origin: EventOrigin
    /// What the GeoIP databases said about `address` at the route stage (which has the databases).
    public var enrichment: AddressEnrichment?
    /// The event's session context: issuer, creation time, MFA, source identity.
    public var session: SessionFacts

    public init(
        groupingKey: String, principalArn: String, principalType: String, accountId: String?,
        address: SourceAddress, accessKeyId: String, userAgent: String?, eventSource: String?,
        eventName: String?, awsRegion: String?, eventTime: EventTime, eventID: String?, origin: EventOrigin,
        enrichment: AddressEnrichment? = nil, session: SessionFacts = SessionFacts()
    ) {
        self.groupingKey = groupingKey
        self.principalArn = principalArn
        self.principalType = principalType
        self.accountId = accountId
        self.address = address
        self.accessKeyId = accessKeyId
        self.userAgent = userAgent
        self.eventSource = eventSource
        self.eventName = eventName
        self.awsRegion = awsRegion
        self.eventTime = eventTime
        self.eventID = eventID
        self.origin = origin
        self.enrichment = enrichment.flatMap { $0.isEmpty ? nil : $0 }
        self.session = session
    }
}

/// What one event says about the session its credentials belong to (`userIdentity.sessionContext`):
/// what a responder needs to revoke the session and trace where it came from.
public struct SessionFacts: Sendable, Hashable {
    /// `sessionIssuer.arn`: the role of an assumed-role session (the IAM user of a federated one).
    public var issuerArn: String?
    /// `attributes.creationDate` (RFC 3339), when the credentials were issued; nil when absent or
    /// not a time.
    public var createdAt: EventTime?
    /// `attributes.mfaAuthenticated`.
    public var mfaAuthenticated: Bool?
    /// `sourceIdentity`, set by whoever assumed the role (`sts:SourceIdentity`).
    public var sourceIdentity: String?

    public init(issuerArn: String? = nil, createdAt: EventTime? = nil, mfaAuthenticated: Bool? = nil,
                sourceIdentity: String? = nil) {
        self.issuerArn = issuerArn
        self.createdAt = createdAt
        self.mfaAuthenticated = mfaAuthenticated
        self.sourceIdentity = sourceIdentity
    }

    public var isEmpty: Bool { issuerArn == nil && createdAt == nil && mfaAuthenticated == nil && sourceIdentity == nil }

    init<E: RuleInput>(_ event: E) {
        self.init(
            issuerArn: event.string(.sessionIssuerArn).flatMap { $0.isEmpty ? nil : $0 },
            createdAt: Self.creationDate(event),
            mfaAuthenticated: event.mfaAuthenticated,
            sourceIdentity: event.string(.sourceIdentity).flatMap { $0.isEmpty ? nil : $0 })
    }

    /// `creationDate` as a time within `EventTime.acceptedRange`; nil for anything else.
    static func creationDate<E: RuleInput>(_ event: E) -> EventTime? {
        let time = event.withUTF8(.sessionCreationDate) { RFC3339.parse(utf8: UnsafeRawBufferPointer($0)) } ?? nil
        return time.flatMap { EventTime.acceptedRange.contains($0) ? $0 : nil }
    }
}
