public import CloudTrail

/// What kind of traffic an event stands for: lets tests check that noise never alerts.
public enum TrafficCategory: String, Sendable, Hashable, CaseIterable {
    /// An ordinary session principal: one `ASIA` key from one address.
    case normal
    /// An injected stolen-token use (the owner's address plus attacker addresses in one window).
    case attack
    /// Long-term `AKIA` keys from many addresses (and, sometimes, an `ASIA` session from one).
    case longTermKey = "long_term_key"
    /// A service acting for a role: `sourceIPAddress` is a service name (sometimes one real address).
    case serviceCaller = "service_caller"
    /// Terraform / Ansible / Pulumi runners from many addresses (other tools from one address).
    case automation
    /// Root, AWSService, FederatedUser or SAMLUser identities from many addresses.
    case otherIdentityType = "other_identity_type"
    /// An assumed-role session event without `userIdentity.arn`, from many addresses.
    case missingArn = "missing_arn"
    /// Two addresses one second either side of a 30-minute boundary: two windows, no alert.
    case nearMiss = "near_miss"

    /// Whether the rule may alert on this kind of traffic at all.
    public var mayAlert: Bool { self == .attack || self == .normal }
}

/// The fields rendered into an event's JSON, kept structured so that the oracle reads them without
/// parsing and tests can compare them with what the decoder makes of the JSON.
public struct EventFields: Sendable, Hashable {
    public var identityType: String
    public var arn: String?
    public var accountId: String
    public var principalId: String?
    public var userName: String?
    public var accessKeyId: String?
    /// `sessionContext.sessionIssuer.arn` for role sessions.
    public var sessionIssuerArn: String?
    public var mfaAuthenticated: Bool?
    /// `sessionContext.sourceIdentity`, for some role sessions.
    public var sourceIdentity: String?
    /// `sourceIPAddress` exactly as written (not necessarily canonical; may be a service name).
    public var sourceIPAddress: String
    public var userAgent: String?
    public var eventSource: String
    public var eventName: String
    public var awsRegion: String
    public var errorCode: String?
    public var sessionCredentialFromConsole: Bool
}

/// One generated CloudTrail event: its JSON and the facts the tests and the producer need.
public struct SimulatedEvent: Sendable {
    /// One CloudTrail event object, compact, no newline.
    public var json: [UInt8]
    /// `eventTime` (whole seconds).
    public var eventTime: EventTime
    /// The input partition the generator assigned.
    public var partition: Int
    /// `userIdentity.arn`, nil for identities without one.
    public var principalArn: String?
    public var eventID: String
    public var category: TrafficCategory
    public var fields: EventFields
    /// Position in the generator's (interleaved) order, 0-based.
    public var ordinal: Int
}
