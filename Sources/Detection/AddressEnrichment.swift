public import CloudTrail

/// What GeoIP databases say about one source address. Every field is optional: an address may be
/// missing from a database, and a database may be absent altogether.
public struct AddressEnrichment: Sendable, Hashable {
    /// Autonomous system number (`autonomous_system_number` in an ASN database).
    public var asn: UInt32?
    /// AS organisation, e.g. `AMAZON-02` (`autonomous_system_organization`): what the rule calls a network.
    public var asOrganization: String?
    /// ISO 3166-1 alpha-2 country code (`country.iso_code` in a City database).
    public var countryCode: String?
    /// English city name (`city.names.en`).
    public var city: String?

    public init(asn: UInt32? = nil, asOrganization: String? = nil, countryCode: String? = nil, city: String? = nil) {
        self.asn = asn
        self.asOrganization = asOrganization
        self.countryCode = countryCode
        self.city = city
    }

    public var isEmpty: Bool { asn == nil && asOrganization == nil && countryCode == nil && city == nil }
}

/// Looks addresses up for the rule (the route stage, or the detect stage on keyed input).
/// `Detection` stays pure: the I/O behind it (memory-mapped databases, reloads) lives in `Enrichment`.
public protocol AddressEnricher: Sendable {
    /// Nil when no database knows the address.
    func enrich(_ address: SourceAddress) -> AddressEnrichment?
    /// Whether an ASN database is loaded (networks and the AS-organisation exclusions need it).
    var hasASN: Bool { get }
    /// Whether a City database is loaded (cities and countries need it).
    var hasCity: Bool { get }
}

/// How a window's addresses spread, as Elastic's "AWS Access Token Used from Multiple Addresses"
/// (detection-rules, `initial_access_iam_session_token_used_from_multiple_addresses.toml`) classifies
/// them: the first matching case of its `Esql.activity_type = case(...)`, in that order.
public enum ActivityType: String, Sendable, Hashable, CaseIterable {
    case multipleIPNetworkCityUserAgent = "multiple_ip_network_city_user_agent"
    case multipleIPNetworkCity = "multiple_ip_network_city"
    case multipleIPAndCity = "multiple_ip_and_city"
    case multipleIPAndNetwork = "multiple_ip_and_network"
    case multipleIPAndUserAgent = "multiple_ip_and_user_agent"
    case normal = "normal_activity"

    /// Distinct counts ignore unknown values, like ES|QL's `count_distinct` ignores nulls: an
    /// address without a city adds no city.
    public static func classify(addresses: Int, networks: Int, cities: Int, userAgents: Int) -> ActivityType {
        guard addresses >= 2 else { return .normal }
        if networks >= 2 && cities >= 2 && userAgents >= 2 { return .multipleIPNetworkCityUserAgent }
        if networks >= 2 && cities >= 2 { return .multipleIPNetworkCity }
        if cities >= 2 { return .multipleIPAndCity }
        if networks >= 2 { return .multipleIPAndNetwork }
        if userAgents >= 2 { return .multipleIPAndUserAgent }
        return .normal
    }

    /// Elastic's `Esql.activity_fidelity_score`; nil (null there) for normal activity.
    public var fidelity: Fidelity? {
        switch self {
        case .multipleIPNetworkCityUserAgent, .multipleIPNetworkCity: .high
        case .multipleIPAndCity, .multipleIPAndNetwork: .medium
        case .multipleIPAndUserAgent: .low
        case .normal: nil
        }
    }
}

/// How likely a window's spread is misuse rather than a distributed but legitimate workload.
public enum Fidelity: String, Sendable, Hashable, CaseIterable, Comparable {
    case low
    case medium
    case high

    private var rank: Int {
        switch self {
        case .low: 0
        case .medium: 1
        case .high: 2
        }
    }

    public static func < (a: Fidelity, b: Fidelity) -> Bool { a.rank < b.rank }
}
