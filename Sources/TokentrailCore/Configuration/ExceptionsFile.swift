public import CloudTrail
public import Detection
import Enrichment
import Foundation
import Glibc
public import Logging
import Synchronization
import Yams

/// What is wrong with an exceptions file: the file, the entry (its position, name and line), the key
/// and what that key allows. A bad file at start is a configuration problem of `rule.exceptions_file`
/// (exit 2); a bad file on reload keeps the exceptions already loaded and is logged with these fields.
public struct ExceptionsFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    /// `entry 2 (corp-vpn, line 7)`; nil for a problem of the whole file.
    public var entry: String?
    /// `match.cidr`, `owner`, ...; nil for a problem of the whole file or entry.
    public var key: String?
    public var problem: String
    public var allowed: String?

    public init(file: String, entry: String? = nil, key: String? = nil, problem: String, allowed: String? = nil) {
        self.file = file
        self.entry = entry
        self.key = key
        self.problem = problem
        self.allowed = allowed
    }

    /// Without the file: `entry 2 (corp-vpn, line 7): match.cidr '10.0.0.0/33' is not a CIDR block`.
    public var detail: String {
        [entry, key].compactMap { $0 }.joined(separator: ": ") + (entry == nil && key == nil ? "" : " ") + problem
    }

    public var description: String {
        "\(file): \(detail)" + (allowed.map { " (allowed: \($0))" } ?? "")
    }
}

/// `rule.exceptions_file`: a YAML list of exceptions a team owns (docs/configuration.md#exceptions).
///
///     - name: corp-vpn                    # unique; the metric's `exception` label
///       match: {cidr: [198.51.100.0/24]}  # cidr, arn, account_id, user_agent_contains, as_organization, event_source
///       comment: egress of the corporate VPN
///       owner: netops@example.com
///       expires: 2026-12-31               # optional: a date (UTC midnight) or an RFC 3339 time
///
/// Each entry removes the events it matches from the rule's input, as the allowlists do (reason
/// `exception`). The file is checked for a change (inode, size, mtime) at most every `reloadCheckInterval`
/// when the exceptions are read (once per poll batch); a changed file is parsed and validated in
/// full, then swapped in whole. A file that fails keeps the exceptions in force and is logged (once
/// per change) with the file, entry and key.
public final class ExceptionsFile: RuleExceptionsSource {
    public let path: String
    /// Whether an ASN database is configured: `as_organization` needs one.
    public let asnAvailable: Bool
    private let interval: UInt64
    private let logger: Logger
    private let state: Mutex<State>

    /// Counters for metrics and tests.
    public struct Statistics: Sendable, Hashable {
        public var reloads = 0
        public var reloadFailures = 0
        public init() {}
    }

    private struct State {
        var exceptions: RuleExceptions
        var identity: FileIdentity?
        var failedIdentity: FileIdentity?
        var missingReported = false
        var nextCheck: UInt64
        /// By exception name, kept across reloads so that counts and expiry reports carry over.
        var tallies: [String: ExceptionTally] = [:]
        var statistics = Statistics()
    }

    /// Reads and validates the file; throws the first problem (the file, the entry, the key).
    public init(path: String, asnAvailable: Bool, reloadCheckInterval: Duration = .seconds(60), logger: Logger) throws(ExceptionsFileError) {
        self.path = path
        self.asnAvailable = asnAvailable
        self.logger = logger
        interval = ReloadClock.nanoseconds(reloadCheckInterval)
        let identity = FileIdentity(path: path)
        let parsed = try Self.parse(contentsOf: path, asnAvailable: asnAvailable)
        var tallies: [String: ExceptionTally] = [:]
        let exceptions = Self.snapshot(parsed, tallies: &tallies, logger: logger)
        state = Mutex(State(exceptions: exceptions, identity: identity, nextCheck: ReloadClock.now() + interval, tallies: tallies))
    }

    /// The exceptions in force, reloading the file first when it is due for a check and changed.
    public func current() -> RuleExceptions {
        state.withLock { s in
            let now = ReloadClock.now()
            if now >= s.nextCheck {
                s.nextCheck = now + interval
                reloadIfChanged(&s)
            }
            return s.exceptions
        }
    }

    /// Checks the file now (instead of at the next interval); true when new exceptions were swapped in.
    @discardableResult
    public func checkForChanges() -> Bool {
        state.withLock { reloadIfChanged(&$0) }
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Events excluded so far by each exception of the file in force (entries of a name that left
    /// the file on a reload keep their count here too), by name.
    public var matchCounts: [String: Int] {
        state.withLock { s in s.tallies.mapValues(\.matches) }
    }

    /// Names of the exceptions in force, in file order.
    public var names: [String] { current().entries.map(\.name) }

    @discardableResult
    private func reloadIfChanged(_ s: inout State) -> Bool {
        let identity = FileIdentity(path: path)
        guard identity != s.identity else { return false }
        // A bad or missing file is reported once, until it changes again.
        if let identity, identity == s.failedIdentity { return false }
        if identity == nil, s.missingReported { return false }
        do throws(ExceptionsFileError) {
            let parsed = try Self.parse(contentsOf: path, asnAvailable: asnAvailable)
            s.exceptions = Self.snapshot(parsed, tallies: &s.tallies, logger: logger)
            s.identity = identity
            s.failedIdentity = nil
            s.missingReported = false
            s.statistics.reloads += 1
            logger.info("exceptions file reloaded", metadata: [
                "path": "\(path)", "exceptions": "\(parsed.map(\.name).joined(separator: ","))",
            ])
            return true
        } catch {
            if identity == nil { s.missingReported = true } else { s.failedIdentity = identity }
            s.statistics.reloadFailures += 1
            var metadata: Logger.Metadata = ["path": "\(path)", "error": "\(error.detail)"]
            if let entry = error.entry { metadata["entry"] = "\(entry)" }
            if let key = error.key { metadata["key"] = "\(key)" }
            if let allowed = error.allowed { metadata["allowed"] = "\(allowed)" }
            logger.error("exceptions file changed but is not valid; keeping the exceptions in force", metadata: metadata)
            return false
        }
    }

    /// Entries with their tallies (one per name, kept across reloads) and the expiry log.
    private static func snapshot(_ entries: [Entry], tallies: inout [String: ExceptionTally], logger: Logger) -> RuleExceptions {
        var list: [RuleException] = []
        for e in entries {
            let tally = tallies[e.name] ?? ExceptionTally(name: e.name)
            tallies[e.name] = tally
            list.append(RuleException(name: e.name, comment: e.comment, owner: e.owner, expires: e.expires, match: e.match, tally: tally))
        }
        return RuleExceptions(list) { entry, eventTime in
            logger.warning("exception expired: events it matches count again", metadata: [
                "exception": "\(entry.name)", "owner": "\(entry.owner)",
                "expires": "\(entry.expires.map(RFC3339.format) ?? "")", "event_time": "\(RFC3339.format(eventTime))",
            ])
        }
    }

    // MARK: parsing

    /// One validated entry.
    public struct Entry: Sendable {
        public var name: String
        public var comment: String
        public var owner: String
        public var expires: EventTime?
        public var match: ExceptionMatch
    }

    static let entryKeys = ["name", "match", "comment", "owner", "expires"]
    static let matchKeys = ["cidr", "arn", "account_id", "user_agent_contains", "as_organization", "event_source"]
    static let nameAllowed = "1 to 128 characters of a-z A-Z 0-9 . _ - (the metric's exception label)"
    static let expiresAllowed = "a date (2026-12-31: from 00:00 UTC that day the entry no longer matches) or an RFC 3339 time (2026-12-31T18:00:00Z, ...+02:00)"

    public static func parse(contentsOf path: String, asnAvailable: Bool) throws(ExceptionsFileError) -> [Entry] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ExceptionsFileError(file: path, problem: "cannot be read: \(error.localizedDescription)",
                                      allowed: "a readable UTF-8 YAML file")
        }
        return try parse(text, file: path, asnAvailable: asnAvailable)
    }

    /// Validates the whole file: every entry, every key.
    public static func parse(_ text: String, file: String, asnAvailable: Bool) throws(ExceptionsFileError) -> [Entry] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ExceptionsFileError(file: file, problem: "is not valid YAML: \(error)")
        }
        guard let root else { return [] }  // An empty file: no exceptions.
        if case .scalar = root, root.null != nil { return [] }
        guard case .sequence(let items) = root else {
            throw ExceptionsFileError(file: file, problem: "is not a list of exceptions",
                                      allowed: "a YAML list of entries, each with name, match, comment, owner and optionally expires")
        }
        var entries: [Entry] = []
        var lines: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let line = item.mark.map { $0.line }
            var label = "entry \(index + 1)" + (line.map { " (line \($0))" } ?? "")
            func fail(_ key: String?, _ problem: String, _ allowed: String? = nil) -> ExceptionsFileError {
                ExceptionsFileError(file: file, entry: label, key: key, problem: problem, allowed: allowed)
            }
            guard case .mapping(let mapping) = item else {
                throw fail(nil, "is not a mapping", "keys \(entryKeys.joined(separator: ", "))")
            }
            // The name first, so that every problem of the entry names it.
            if let n = mapping.first(where: { $0.key.scalar?.string == "name" })?.value.scalar?.string.trimmingCharacters(in: .whitespaces),
               !n.isEmpty {
                label = "entry \(index + 1) (\(n)" + (line.map { ", line \($0)" } ?? "") + ")"
            }
            var fields: [String: Node] = [:]
            for (k, v) in mapping {
                guard let key = k.scalar?.string else { throw fail(nil, "has a key that is not text") }
                guard entryKeys.contains(key) else {
                    throw fail(key, "is not an exception key", entryKeys.joined(separator: ", "))
                }
                guard fields.updateValue(v, forKey: key) == nil else { throw fail(key, "is given twice") }
            }
            func text(_ key: String, _ allowed: String) throws(ExceptionsFileError) -> String {
                guard let node = fields[key] else { throw fail(key, "is missing", allowed) }
                guard case .scalar(let s) = node, node.null == nil || s.style != .plain else {
                    throw fail(key, "is not a single value", allowed)
                }
                let value = s.string.trimmingCharacters(in: .whitespaces)
                guard !value.isEmpty else { throw fail(key, "is empty", allowed) }
                return value
            }
            let name = try text("name", nameAllowed)
            guard name.utf8.count <= 128, name.utf8.allSatisfy(isNameByte) else {
                throw fail("name", "'\(name)' is not a valid exception name", nameAllowed)
            }
            label = "entry \(index + 1) (\(name)" + (line.map { ", line \($0)" } ?? "") + ")"
            if let first = lines[name] {
                throw fail("name", "'\(name)' is already the name of the entry at line \(first)", "a name no other entry has")
            }
            lines[name] = line ?? index + 1
            let comment = try text("comment", "a non-empty text saying why the events are expected")
            let owner = try text("owner", "a non-empty text naming who answers for the exception (a team, an address)")
            var expires: EventTime?
            if fields["expires"] != nil {
                let value = try text("expires", expiresAllowed)
                guard let time = parseExpiry(value) else {
                    throw fail("expires", "'\(value)' is not a date or an RFC 3339 time", expiresAllowed)
                }
                expires = time
            }
            guard let matchNode = fields["match"] else {
                throw fail("match", "is missing", "a mapping of one or more of \(matchKeys.joined(separator: ", "))")
            }
            let match = try parseMatch(matchNode, asnAvailable: asnAvailable, fail: fail)
            entries.append(Entry(name: name, comment: comment, owner: owner, expires: expires, match: match))
        }
        return entries
    }

    private static func parseMatch(_ node: Node, asnAvailable: Bool,
                                   fail: (String?, String, String?) -> ExceptionsFileError) throws(ExceptionsFileError) -> ExceptionMatch {
        let allowedKeys = "a mapping of one or more of \(matchKeys.joined(separator: ", ")) (all must hold)"
        guard case .mapping(let mapping) = node else { throw fail("match", "is not a mapping", allowedKeys) }
        var match = ExceptionMatch()
        var seen: Set<String> = []
        for (k, v) in mapping {
            guard let key = k.scalar?.string else { throw fail("match", "has a key that is not text", allowedKeys) }
            let path = "match.\(key)"
            guard matchKeys.contains(key) else { throw fail(path, "is not a match key", matchKeys.joined(separator: ", ")) }
            guard seen.insert(key).inserted else { throw fail(path, "is given twice", nil) }
            let allowed = allowedValues(key)
            var values: [String] = []
            switch v {
            case .scalar(let s) where v.null == nil || s.style != .plain:
                values = [s.string]
            case .sequence(let seq):
                for item in seq {
                    guard case .scalar(let s) = item else { throw fail(path, "holds an item that is not a single value", allowed) }
                    values.append(s.string)
                }
            default:
                throw fail(path, "is not a value or a list of values", allowed)
            }
            values = values.map { $0.trimmingCharacters(in: .whitespaces) }
            guard !values.isEmpty else { throw fail(path, "is an empty list", allowed) }
            if values.contains(where: \.isEmpty) { throw fail(path, "holds an empty value", allowed) }
            switch key {
            case "cidr":
                for value in values {
                    guard let block = CIDRBlock(parsing: value) else { throw fail(path, "'\(value)' is not a CIDR block", allowed) }
                    match.networks.append(block)
                }
            case "arn":
                for value in values {
                    guard value.hasPrefix("arn:") || value.hasPrefix("*") else { throw fail(path, "'\(value)' is not an ARN pattern", allowed) }
                    match.principals.append(PrincipalPattern(value))
                }
            case "account_id":
                for value in values {
                    guard isAccountID(value) else { throw fail(path, "'\(value)' is not an AWS account id", allowed) }
                    match.accounts.insert(value)
                }
            case "user_agent_contains":
                match.userAgentSubstrings = values
            case "as_organization":
                guard asnAvailable else {
                    throw fail(path, "needs an ASN database, and enrichment.asn_database is not set: the entry could never match",
                               "set enrichment.asn_database (--geoip-asn), or match by cidr instead")
                }
                match.asOrganizations = Set(values)
            default:  // event_source
                match.eventSources = Set(values)
            }
        }
        guard !match.isEmpty else { throw fail("match", "is empty: it would except every event", allowedKeys) }
        return match
    }

    static func allowedValues(_ key: String) -> String {
        switch key {
        case "cidr": "an IPv4 or IPv6 CIDR block (203.0.113.0/24, 2001:db8::/32) or a list of them"
        case "arn": "a principal ARN pattern where * matches any run (arn:aws:sts::123456789012:assumed-role/Scanner/*) or a list of them"
        case "account_id": "a 12-digit AWS account id or a list of them"
        case "user_agent_contains": "a text the userAgent contains, ignoring case, or a list of them"
        case "as_organization": "an AS organisation exactly as the ASN database names it (AMAZON-02) or a list of them"
        default: "an eventSource exactly (s3.amazonaws.com) or a list of them"
        }
    }

    static func isAccountID(_ s: String) -> Bool {
        s.utf8.count == 12 && s.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    private static func isNameByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
    }

    /// `2026-12-31` is that day's start, UTC; anything else must be a full RFC 3339 time.
    static func parseExpiry(_ text: String) -> EventTime? {
        let bytes = Array(text.utf8)
        if bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") {
            return RFC3339.parse(text + "T00:00:00Z")
        }
        return RFC3339.parse(text)
    }
}
