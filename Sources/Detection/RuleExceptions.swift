public import CloudTrail
import Synchronization

/// What one exception matches. Every key given must hold; a key given a list holds when any of its
/// values does. An empty match is refused by the file's loader (it would drop every event).
public struct ExceptionMatch: Sendable, Hashable {
    /// `cidr`: the event's `sourceIPAddress` is inside one of these (before address normalisation).
    public var networks: [CIDRBlock] = []
    /// `arn`: `userIdentity.arn` matches one of these patterns (`*` any run, as `rule.allowed_principals`).
    public var principals: [PrincipalPattern] = []
    /// `account_id`: the principal's account (see `DetectionRule.principalAccount`) is one of these.
    public var accounts: Set<String> = []
    /// `user_agent_contains`: `userAgent` contains one of these, ignoring ASCII case.
    public var userAgentSubstrings: [String] = []
    /// `as_organization`: the address's AS organisation (ASN database) is one of these, exactly.
    public var asOrganizations: Set<String> = []
    /// `event_source`: `eventSource` is one of these, exactly (e.g. `s3.amazonaws.com`).
    public var eventSources: Set<String> = []

    public init() {}

    public var isEmpty: Bool {
        networks.isEmpty && principals.isEmpty && accounts.isEmpty && userAgentSubstrings.isEmpty
            && asOrganizations.isEmpty && eventSources.isEmpty
    }
}

/// One entry of `rule.exceptions_file`: a match, who owns it and why, and until when it holds.
public struct RuleException: Sendable {
    public var name: String
    public var comment: String
    public var owner: String
    /// Events whose `eventTime` is at or after this are not excepted any more; nil: never expires.
    /// Compared with event time, not the wall clock, so that `scan`, a replay and `tokentrail test`
    /// give the same answer on any day.
    public var expires: EventTime?
    public var match: ExceptionMatch
    /// Shared by every entry of this name across reloads of the file.
    public let tally: ExceptionTally

    public init(name: String, comment: String, owner: String, expires: EventTime?, match: ExceptionMatch, tally: ExceptionTally) {
        self.name = name
        self.comment = comment
        self.owner = owner
        self.expires = expires
        self.match = match
        self.tally = tally
    }
}

/// Events an exception excluded (for `tokentrail_exception_matches_total`), and whether its expiry
/// has been reported. One per exception name, kept across reloads; updated from every pipeline thread.
public final class ExceptionTally: Sendable {
    public let name: String
    private let count = Atomic<Int>(0)
    /// The `expires` (ms) last reported; `Int64.min`: none.
    private let reportedExpiry = Atomic<Int64>(Int64.min)

    public init(name: String) { self.name = name }

    /// Events excluded by the exception of this name so far.
    public var matches: Int { count.load(ordering: .relaxed) }

    func matched() { count.wrappingAdd(1, ordering: .relaxed) }

    /// True the first time an event passes this expiry (once per `expires` value).
    func firstPast(_ expiry: EventTime) -> Bool {
        let ms = expiry.millisecondsSinceEpoch
        guard reportedExpiry.load(ordering: .relaxed) != ms else { return false }
        return reportedExpiry.exchange(ms, ordering: .relaxed) != ms
    }
}

/// The exceptions in force: one immutable snapshot of the file, read once per poll batch (the
/// pipeline) or per document (`scan`) and handed to `DetectionRule.keep(_:exceptions:)`.
public struct RuleExceptions: Sendable {
    public let entries: [RuleException]
    /// Called once per exception (and `expires` value), by the first event it would have excluded but
    /// for its expiry. The event time passed is that event's.
    let onExpired: (@Sendable (RuleException, EventTime) -> Void)?
    private let compiled: [Compiled]

    public init(_ entries: [RuleException], onExpired: (@Sendable (RuleException, EventTime) -> Void)? = nil) {
        self.entries = entries
        self.onExpired = onExpired
        compiled = entries.map(Compiled.init)
    }

    public static let none = RuleExceptions([])

    public var isEmpty: Bool { entries.isEmpty }

    /// One entry in the form matching reads: byte sets and lowercased needles, made once per load, and
    /// nothing else, so that walking the entries for every kept event touches no strings.
    private struct Compiled: Sendable {
        let networks: [CIDRBlock]
        let principals: [PrincipalPattern]
        let accounts: TextSet?
        let eventSources: TextSet?
        let userAgentNeedles: [[UInt8]]
        let asOrganizations: Set<String>
        /// `expires` in ms; `Int64.max`: never.
        let expires: Int64

        init(_ e: RuleException) {
            networks = e.match.networks
            principals = e.match.principals
            accounts = e.match.accounts.isEmpty ? nil : TextSet(e.match.accounts)
            eventSources = e.match.eventSources.isEmpty ? nil : TextSet(e.match.eventSources)
            userAgentNeedles = e.match.userAgentSubstrings.map { Array($0.utf8).map(DetectionRule.asciiLower) }.filter { !$0.isEmpty }
            asOrganizations = e.match.asOrganizations
            expires = e.expires?.millisecondsSinceEpoch ?? Int64.max
        }

        /// Every key given holds (cheapest first).
        func matches<E: RuleInput>(_ event: E, enrichment: AddressEnrichment?) -> Bool {
            if !networks.isEmpty {
                let address = event.sourceAddress
                guard networks.contains(where: { $0.contains(address) }) else { return false }
            }
            if let eventSources, event.withUTF8(.eventSource, { eventSources.contains($0) }) != true { return false }
            if let accounts, DetectionRule.principalAccount(of: event, { accounts.contains($0) }) != true { return false }
            if !principals.isEmpty, event.withUTF8(.arn, { arn in principals.contains { $0.matches(utf8: arn) } }) != true {
                return false
            }
            if !userAgentNeedles.isEmpty,
               event.withUTF8(.userAgent, { DetectionRule.containsIgnoringASCIICase(userAgentNeedles, in: $0) }) != true {
                return false
            }
            if !asOrganizations.isEmpty {
                guard let organization = enrichment?.asOrganization, asOrganizations.contains(organization) else { return false }
            }
            return true
        }
    }

    /// The first entry in force (in file order) that matches, counted; nil when none does.
    func firstMatch<E: RuleInput>(_ event: E, enrichment: AddressEnrichment?) -> Int? {
        let time = event.eventTime.millisecondsSinceEpoch
        for index in compiled.indices where compiled[index].matches(event, enrichment: enrichment) {
            guard time < compiled[index].expires else {
                let entry = entries[index]
                if let expires = entry.expires, entry.tally.firstPast(expires) { onExpired?(entry, event.eventTime) }
                continue
            }
            entries[index].tally.matched()
            return index
        }
        return nil
    }
}

/// Where the rule gets the exceptions in force (`rule.exceptions_file`, reloaded on change). Callers
/// on a hot path read `current()` once per batch of events, not once per event.
public protocol RuleExceptionsSource: Sendable {
    func current() -> RuleExceptions
}
