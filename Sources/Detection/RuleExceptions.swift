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
    let needsARN: Bool

    public init(_ entries: [RuleException], onExpired: (@Sendable (RuleException, EventTime) -> Void)? = nil) {
        self.entries = entries
        self.onExpired = onExpired
        compiled = entries.map(Compiled.init)
        needsARN = entries.contains { !$0.match.principals.isEmpty }
    }

    public static let none = RuleExceptions([])

    public var isEmpty: Bool { entries.isEmpty }

    /// The matching forms of one entry: byte sets and lowercased needles, made once per load.
    private struct Compiled: Sendable {
        let accounts: TextSet
        let eventSources: TextSet
        let userAgentNeedles: [[UInt8]]

        init(_ e: RuleException) {
            accounts = TextSet(e.match.accounts)
            eventSources = TextSet(e.match.eventSources)
            userAgentNeedles = e.match.userAgentSubstrings.map { Array($0.utf8).map(DetectionRule.asciiLower) }.filter { !$0.isEmpty }
        }
    }

    /// The first entry in force (in file order) that matches, counted; nil when none does.
    func firstMatch<E: RuleInput>(_ event: E, enrichment: AddressEnrichment?) -> Int? {
        let arn: [UInt8]? = needsARN ? event.withUTF8(.arn) { Array($0) } : nil
        for index in entries.indices {
            let entry = entries[index]
            guard matches(entry.match, compiled[index], event, arn: arn, enrichment: enrichment) else { continue }
            if let expires = entry.expires, event.eventTime >= expires {
                if entry.tally.firstPast(expires) { onExpired?(entry, event.eventTime) }
                continue
            }
            entry.tally.matched()
            return index
        }
        return nil
    }

    private func matches<E: RuleInput>(_ m: ExceptionMatch, _ c: Compiled, _ event: E, arn: [UInt8]?,
                                       enrichment: AddressEnrichment?) -> Bool {
        if !m.networks.isEmpty {
            let address = event.sourceAddress
            guard m.networks.contains(where: { $0.contains(address) }) else { return false }
        }
        if !m.eventSources.isEmpty {
            guard event.withUTF8(.eventSource, { c.eventSources.contains($0) }) == true else { return false }
        }
        if !m.accounts.isEmpty {
            guard DetectionRule.principalAccount(of: event, { c.accounts.contains($0) }) == true else { return false }
        }
        if !m.principals.isEmpty {
            guard let arn, m.principals.contains(where: { $0.matches(utf8: arn) }) else { return false }
        }
        if !c.userAgentNeedles.isEmpty {
            guard event.withUTF8(.userAgent, { DetectionRule.containsIgnoringASCIICase(c.userAgentNeedles, in: $0) }) == true else {
                return false
            }
        }
        if !m.asOrganizations.isEmpty {
            guard let organization = enrichment?.asOrganization, m.asOrganizations.contains(organization) else { return false }
        }
        return true
    }
}

/// Where the rule gets the exceptions in force (`rule.exceptions_file`, reloaded on change). Callers
/// on a hot path read `current()` once per batch of events, not once per event.
public protocol RuleExceptionsSource: Sendable {
    func current() -> RuleExceptions
}
