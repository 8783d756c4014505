/// The fields of one CloudTrail event that tokentrail's rules read, decoded from any envelope.
///
/// This is the seam between decoding and detection: `Detection` sees only this type,
/// never JSON. Absent fields are `nil`; the decoder never invents a value.
public struct CloudTrailEvent: Sendable, Hashable {
    /// `eventTime`, the event-time clock of every window.
    public var eventTime: EventTime
    public var eventID: String?
    public var eventSource: String?
    public var eventName: String?
    public var eventCategory: String?
    public var awsRegion: String?
    /// `sourceIPAddress` exactly as CloudTrail wrote it (an address or a service name).
    public var sourceIPAddress: String?
    /// `sourceIPAddress` classified: only `.ipv4` and `.ipv6` ever count as an address.
    public var sourceAddress: SourceAddress
    public var userAgent: String?
    public var recipientAccountId: String?
    public var errorCode: String?
    /// `sessionCredentialFromConsole` ("true" in CloudTrail, a string); false when absent.
    public var sessionCredentialFromConsole: Bool
    public var userIdentity: UserIdentity

    public init(
        eventTime: EventTime,
        eventID: String? = nil,
        eventSource: String? = nil,
        eventName: String? = nil,
        eventCategory: String? = nil,
        awsRegion: String? = nil,
        sourceIPAddress: String? = nil,
        sourceAddress: SourceAddress? = nil,
        userAgent: String? = nil,
        recipientAccountId: String? = nil,
        errorCode: String? = nil,
        sessionCredentialFromConsole: Bool = false,
        userIdentity: UserIdentity = UserIdentity()
    ) {
        self.eventTime = eventTime
        self.eventID = eventID
        self.eventSource = eventSource
        self.eventName = eventName
        self.eventCategory = eventCategory
        self.awsRegion = awsRegion
        self.sourceIPAddress = sourceIPAddress
        self.sourceAddress = sourceAddress ?? sourceIPAddress.map(SourceAddress.init(parsing:)) ?? .notAnAddress
        self.userAgent = userAgent
        self.recipientAccountId = recipientAccountId
        self.errorCode = errorCode
        self.sessionCredentialFromConsole = sessionCredentialFromConsole
        self.userIdentity = userIdentity
    }
}

/// `userIdentity` and the parts of `sessionContext` the rules use.
public struct UserIdentity: Sendable, Hashable {
    public var type: String?
    public var arn: String?
    public var accountId: String?
    public var principalId: String?
    public var userName: String?
    public var accessKeyId: String?
    /// `sessionContext.attributes.mfaAuthenticated` ("true"/"false" in CloudTrail).
    public var mfaAuthenticated: Bool?
    /// `sessionContext.sessionIssuer.arn`: the role behind an assumed-role session.
    public var sessionIssuerArn: String?
    /// `sessionContext.attributes.creationDate`, the text as CloudTrail wrote it (when the
    /// credentials were issued).
    public var sessionCreationDate: String?
    /// `sessionContext.sourceIdentity`: the identity set when the role was assumed (`sts:SourceIdentity`).
    public var sourceIdentity: String?

    public init(
        type: String? = nil, arn: String? = nil, accountId: String? = nil, principalId: String? = nil,
        userName: String? = nil, accessKeyId: String? = nil, mfaAuthenticated: Bool? = nil,
        sessionIssuerArn: String? = nil, sessionCreationDate: String? = nil, sourceIdentity: String? = nil
    ) {
        self.type = type
        self.arn = arn
        self.accountId = accountId
        self.principalId = principalId
        self.userName = userName
        self.accessKeyId = accessKeyId
        self.mfaAuthenticated = mfaAuthenticated
        self.sessionIssuerArn = sessionIssuerArn
        self.sessionCreationDate = sessionCreationDate
        self.sourceIdentity = sourceIdentity
    }
}

/// An instant in event time, in milliseconds since the Unix epoch (UTC).
public struct EventTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var millisecondsSinceEpoch: Int64

    public init(millisecondsSinceEpoch: Int64) { self.millisecondsSinceEpoch = millisecondsSinceEpoch }
    public init(secondsSinceEpoch: Int64) { self.millisecondsSinceEpoch = secondsSinceEpoch * 1000 }

    public static func < (a: EventTime, b: EventTime) -> Bool { a.millisecondsSinceEpoch < b.millisecondsSinceEpoch }

    /// RFC 3339 UTC with whole seconds and `Z`, e.g. `2026-03-02T08:00:00Z` (the alert contract's form).
    public var description: String { RFC3339.format(self) }
}

/// `sourceIPAddress` classified. CloudTrail also writes service names there
/// (`ec2.amazonaws.com`, `AWS Internal`); those are `.notAnAddress` and never count.
public enum SourceAddress: Sendable, Hashable, CustomStringConvertible {
    case ipv4(UInt32)
    /// High and low 64 bits, network order. An IPv4-mapped IPv6 address is `.ipv4`.
    case ipv6(high: UInt64, low: UInt64)
    case notAnAddress

    /// Canonical text: dotted quad, or RFC 5952 for IPv6; empty for `.notAnAddress`.
    public var description: String { canonicalText }
}
