public import CloudTrail

/// Everything the stolen-session-token rule can be tuned by; `seed` is the shipped profile.
///
/// Defaults follow Elastic's "AWS STS Temporary IAM Session Token Used from Multiple Addresses"
/// (detection-rules PR #4624). Time spans are `Duration`s; event time itself is milliseconds.
public struct RuleConfiguration: Sendable, Hashable {
    /// Stable rule id: part of every `alert_id`, so changing it changes every id downstream.
    public var id: String = "0d92d30a-5f3e-4b71-bc3d-4a0c4914b7e0"
    public var name: String = "AWS STS Temporary IAM Session Token Used from Multiple Addresses"
    public var severity: String = "medium"
    public var riskScore: Int = 47

    /// `userIdentity.type` values that may count.
    public var identityTypes: Set<String> = ["IAMUser", "AssumedRole"]
    /// `userIdentity.accessKeyId` must start with one of these (`ASIA`: temporary STS credentials).
    public var accessKeyPrefixes: [String] = ["ASIA"]
    /// Case-insensitive substrings of `userAgent` that mark automation, whose traffic never counts.
    public var excludedUserAgentSubstrings: [String] = ["Terraform", "Ansible", "Pulumi"]
    /// `eventSource` values (exact, e.g. `health.amazonaws.com`) that never count.
    public var excludedEventSources: Set<String> = []
    /// When true, console sessions (`sessionCredentialFromConsole`) never count. Off in `seed`.
    public var excludeConsoleSessions: Bool = false
    /// Trusted egress: an address inside one of these never counts.
    public var allowedNetworks: [CIDRBlock] = []
    /// Principal ARN patterns (`*` matches any run of characters) that never count.
    public var allowedPrincipals: [PrincipalPattern] = []
    /// Account ids whose principals never count: the principal's own account (`userIdentity.accountId`,
    /// else the ARN's account field), not `recipientAccountId`.
    public var allowedAccounts: Set<String> = []
    /// Distinct addresses a window must hold to alert.
    public var threshold: Int = 2
    /// Tumbling window size; windows are aligned to the Unix epoch (like `date_trunc`).
    public var windowSize: Duration = .seconds(30 * 60)
    public var groupingKey: GroupingKey = .principalArn
    public var addressNormalization: AddressNormalization = .exact
    /// AS organisations (exact) whose addresses never count: `AMAZON-AES` in `elastic-2026`.
    /// Needs an ASN database; an address of unknown organisation is never excluded by it.
    public var excludedNetworkOrganizations: Set<String> = []
    /// AS organisations whose `Data` events (`eventCategory`) never count: `AMAZON-02` in `elastic-2026`
    /// (S3 and other data-plane calls from inside AWS are the usual noise).
    public var excludedDataEventNetworkOrganizations: Set<String> = []
    /// Nil: no scoring, a window alerts on `threshold` addresses (`seed`). Otherwise a window must
    /// also reach this fidelity (see `ActivityType`); alerts then carry the activity type and fidelity.
    public var minimumFidelity: Fidelity?
    /// Distinct `eventSource`s a window must hold to alert (Elastic: more than one).
    public var minimumEventSources: Int = 1

    public init() {}

    /// The shipped default profile.
    public static var seed: RuleConfiguration { RuleConfiguration() }

    /// Elastic's current "AWS Access Token Used from Multiple Addresses" (detection-rules
    /// `initial_access_iam_session_token_used_from_multiple_addresses.toml`, tuned through PRs
    /// #4753, #5055, #5412, #5785): IAM users, any access key, grouped by access key id, console
    /// sessions and noisy services excluded, alerting on high fidelity with more than one event source.
    public static var elastic2026: RuleConfiguration {
        var c = RuleConfiguration()
        c.name = "AWS Access Token Used from Multiple Addresses"
        c.identityTypes = ["IAMUser"]
        c.accessKeyPrefixes = ["AKIA", "ASIA"]
        c.excludeConsoleSessions = true
        c.excludedEventSources = Set([
            "health", "monitoring", "notifications", "ce", "cost-optimization-hub", "servicecatalog-appregistry",
            "securityhub", "account", "budgets", "freetier", "support", "support-console",
        ].map { "\($0).amazonaws.com" })
        c.excludedNetworkOrganizations = ["AMAZON-AES"]
        c.excludedDataEventNetworkOrganizations = ["AMAZON-02"]
        c.groupingKey = .accessKeyId
        c.minimumFidelity = .high
        c.minimumEventSources = 2
        return c
    }

    /// The profiles `rule.profile` can name, by name.
    public static let profiles: [(name: String, configuration: RuleConfiguration)] = [
        ("seed", .seed), ("elastic-2026", .elastic2026),
    ]

    public static func profile(named name: String) -> RuleConfiguration? {
        profiles.first { $0.name == name }?.configuration
    }

    /// Whether a window with these distinct counts alerts.
    public func qualifies(addresses: Int, networks: Int, cities: Int, userAgents: Int, eventSources: Int) -> Bool {
        guard addresses >= threshold, eventSources >= minimumEventSources else { return false }
        guard let minimumFidelity else { return true }
        let activity = ActivityType.classify(addresses: addresses, networks: networks, cities: cities, userAgents: userAgents)
        guard let fidelity = activity.fidelity else { return false }
        return fidelity >= minimumFidelity
    }

    /// Whether the rule reads enrichment (so a window keeps per-address networks and cities).
    public var usesEnrichment: Bool {
        minimumFidelity != nil || !excludedNetworkOrganizations.isEmpty || !excludedDataEventNetworkOrganizations.isEmpty
    }
}

/// What a window's state is grouped by (and the output record key).
public enum GroupingKey: String, Sendable, Hashable, CaseIterable {
    case principalArn = "principal_arn"
    case accessKeyId = "access_key_id"
}

/// How addresses are compared before counting.
public enum AddressNormalization: String, Sendable, Hashable, CaseIterable {
    /// Every distinct address counts.
    case exact
    /// IPv6 addresses count by their /64 prefix: one host's privacy addresses and dual-stack
    /// rotation inside a site's /64 are one address, which removes the usual false positives.
    case ipv6Prefix64 = "ipv6_prefix64"

    /// The address as it is counted and shown.
    public func normalize(_ address: SourceAddress) -> SourceAddress {
        switch (self, address) {
        case (.ipv6Prefix64, .ipv6(let high, _)): return .ipv6(high: high, low: 0)
        default: return address
        }
    }
}

/// An IPv4 or IPv6 network, e.g. `203.0.113.0/24`, `2001:db8::/32`.
public struct CIDRBlock: Sendable, Hashable, CustomStringConvertible {
    public let network: SourceAddress
    public let prefixLength: Int

    /// Nil when `address` is not an address or the prefix is out of range.
    public init?(address: SourceAddress, prefixLength: Int) {
        switch address {
        case .ipv4(let v):
            guard (0...32).contains(prefixLength) else { return nil }
            network = .ipv4(v & Self.mask32(prefixLength))
        case .ipv6(let high, let low):
            guard (0...128).contains(prefixLength) else { return nil }
            let (mh, ml) = Self.mask128(prefixLength)
            network = .ipv6(high: high & mh, low: low & ml)
        case .notAnAddress:
            return nil
        }
        self.prefixLength = prefixLength
    }

    /// Parses `address/prefix` (a bare address means a single host).
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let address = SourceAddress(parsing: String(parts[0]))
        let length: Int?
        if parts.count == 2 {
            length = Int(parts[1])
        } else if case .ipv4 = address {
            length = 32
        } else {
            length = 128
        }
        guard let length else { return nil }
        self.init(address: address, prefixLength: length)
    }

    public func contains(_ address: SourceAddress) -> Bool {
        switch (network, address) {
        case (.ipv4(let n), .ipv4(let a)):
            return a & Self.mask32(prefixLength) == n
        case (.ipv6(let nh, let nl), .ipv6(let ah, let al)):
            let (mh, ml) = Self.mask128(prefixLength)
            return ah & mh == nh && al & ml == nl
        default:
            return false
        }
    }

    public var description: String { "\(network.canonicalText)/\(prefixLength)" }

    private static func mask32(_ bits: Int) -> UInt32 {
        bits == 0 ? 0 : UInt32.max << UInt32(32 - bits)
    }

    private static func mask128(_ bits: Int) -> (UInt64, UInt64) {
        if bits <= 64 {
            return (bits == 0 ? 0 : UInt64.max << UInt64(64 - bits), 0)
        }
        return (UInt64.max, bits == 128 ? UInt64.max : UInt64.max << UInt64(128 - bits))
    }
}

/// A principal ARN pattern where `*` matches any run of characters (case-sensitive, like IAM ARNs).
public struct PrincipalPattern: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let parts: [[UInt8]]

    public init(_ pattern: String) {
        self.pattern = pattern
        parts = pattern.utf8.split(separator: UInt8(ascii: "*"), omittingEmptySubsequences: false).map(Array.init)
    }

    public func matches(_ arn: String) -> Bool { matches(utf8: Array(arn.utf8)) }

    /// The same over the ARN's UTF-8 bytes (an array, or the event's bytes in place).
    func matches<C: RandomAccessCollection<UInt8>>(utf8 text: C) -> Bool where C.Index == Int {
        if parts.count == 1 { return text.elementsEqual(parts[0]) }
        // Anchored first and last literal, greedy-free scan for the middle ones.
        let base = text.startIndex
        guard text.starts(with: parts[0]) else { return false }
        let last = parts[parts.count - 1]
        guard text.count >= parts[0].count + last.count, text.suffix(last.count).elementsEqual(last) else {
            return false
        }
        var position = parts[0].count
        let limit = text.count - last.count
        for middle in parts[1..<(parts.count - 1)] where !middle.isEmpty {
            guard let found = Self.find(middle, in: text, base: base, from: position, limit: limit) else { return false }
            position = found + middle.count
        }
        return true
    }

    public var description: String { pattern }

    /// Offsets are from `base`, the collection's start index.
    private static func find<C: RandomAccessCollection<UInt8>>(_ needle: [UInt8], in haystack: C, base: Int, from: Int, limit: Int) -> Int?
    where C.Index == Int {
        guard limit - from >= needle.count else { return nil }
        for start in from...(limit - needle.count)
        where haystack[(base + start)..<(base + start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
