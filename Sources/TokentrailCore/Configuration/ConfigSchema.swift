import AWSAuth
import CloudTrail
import Detection
import Logging
import Pipeline

/// A value as the effective configuration prints it (YAML or JSON).
public enum RenderedValue: Sendable, Hashable {
    case string(String)
    case number(Int)
    case bool(Bool)
    case list([String])
    case null
}

/// One configuration key: its dotted path, what it accepts, how it is applied and printed.
///
/// The table (`ConfigSchema.keys`) is the single place a key is defined: the loader, the
/// environment mapping, unknown-key detection, `check-config`'s output and the docs all read it.
public struct ConfigKey {
    public let path: String
    public let doc: String
    /// Shown in error messages and docs.
    public let allowed: String
    let apply: (inout TokentrailSettings, ValueReader) throws(ConfigProblem) -> Void
    let render: (TokentrailSettings) -> RenderedValue

    /// The section the key is printed under (`rule` for `rule.threshold`; "" at top level).
    var section: String {
        guard let dot = path.lastIndex(of: ".") else { return "" }
        return String(path[..<dot])
    }
    var leaf: String { String(path.split(separator: ".").last!) }
}

/// Reads one entry as the type a key wants, or says precisely why it cannot.
struct ValueReader {
    let path: String
    let entry: ConfigEntry
    let allowed: String

    func fail(_ problem: String) -> ConfigProblem {
        ConfigProblem(path: path, value: entry.value.shown, problem: problem, allowed: allowed, source: entry.source)
    }

    func scalar() throws(ConfigProblem) -> String {
        switch entry.value {
        case .scalar(let s): return s
        case .list: throw fail("is a list, expected a single value")
        case .mapping: throw fail("is a mapping, expected a single value")
        case .null: throw fail("is null, expected a value")
        }
    }

    func list() throws(ConfigProblem) -> [String] {
        switch entry.value {
        case .list(let l): return l
        case .scalar(let s) where entry.source.splitsCommas:
            return s.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
        case .scalar: throw fail("is a single value, expected a list")
        case .mapping: throw fail("is a mapping, expected a list")
        case .null: return []
        }
    }

    func int(_ range: ClosedRange<Int>) throws(ConfigProblem) -> Int {
        let text = try scalar().trimmingSpaces
        guard let n = Int(text) else { throw fail("is not an integer") }
        guard range.contains(n) else { throw fail("is out of range") }
        return n
    }

    func bool() throws(ConfigProblem) -> Bool {
        switch try scalar().trimmingSpaces.lowercased() {
        case "true": return true
        case "false": return false
        default: throw fail("is not a boolean")
        }
    }

    func duration(_ range: ClosedRange<Duration>) throws(ConfigProblem) -> Duration {
        guard let d = DurationText.parse(try scalar()) else { throw fail("is not a duration") }
        guard range.contains(d) else { throw fail("is out of range") }
        return d
    }

    func choice<E: RawRepresentable & CaseIterable>(_: E.Type) throws(ConfigProblem) -> E where E.RawValue == String {
        let text = try scalar().trimmingSpaces
        guard let e = E(rawValue: text) else { throw fail("is not one of the allowed values") }
        return e
    }

    func topic() throws(ConfigProblem) -> String {
        let t = try scalar().trimmingSpaces
        guard ConfigSchema.isTopicName(t) else { throw fail("is not a valid Kafka topic name") }
        return t
    }
}

public enum ConfigSchema {
    static let topicAllowed = "1 to 249 characters of a-z A-Z 0-9 . _ -"

    static func isTopicName(_ t: String) -> Bool {
        (1...249).contains(t.utf8.count) && t != "." && t != ".."
            && t.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                    || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
            }
    }

    /// Sections in print order; a key's section must be one of these.
    public static let sections = ["", "topics", "topics.create", "output", "rule", "rule.suppression", "time", "state", "evidence", "enrichment", "aws_msk_iam", "metrics", "logging"]

    static func key(
        _ path: String, _ doc: String, allowed: String,
        apply: @escaping (inout TokentrailSettings, ValueReader) throws(ConfigProblem) -> Void,
        render: @escaping (TokentrailSettings) -> RenderedValue
    ) -> ConfigKey {
        ConfigKey(path: path, doc: doc, allowed: allowed, apply: apply, render: render)
    }

    static func int(_ path: String, _ kp: WritableKeyPath<TokentrailSettings, Int>, _ range: ClosedRange<Int>, _ doc: String) -> ConfigKey {
        key(path, doc, allowed: "an integer from \(range.lowerBound) to \(range.upperBound)",
            apply: { (s, r) throws(ConfigProblem) in s[keyPath: kp] = try r.int(range) },
            render: { .number($0[keyPath: kp]) })
    }

    static func bool(_ path: String, _ kp: WritableKeyPath<TokentrailSettings, Bool>, _ doc: String) -> ConfigKey {
        key(path, doc, allowed: "true or false",
            apply: { (s, r) throws(ConfigProblem) in s[keyPath: kp] = try r.bool() },
            render: { .bool($0[keyPath: kp]) })
    }

    static func duration(_ path: String, _ kp: WritableKeyPath<TokentrailSettings, Duration>, _ range: ClosedRange<Duration>, _ doc: String) -> ConfigKey {
        key(path, doc, allowed: "\(DurationText.syntax), from \(DurationText.format(range.lowerBound)) to \(DurationText.format(range.upperBound))",
            apply: { (s, r) throws(ConfigProblem) in s[keyPath: kp] = try r.duration(range) },
            render: { .string(DurationText.format($0[keyPath: kp])) })
    }

    static func choice<E: RawRepresentable & CaseIterable>(_ path: String, _ kp: WritableKeyPath<TokentrailSettings, E>, _ doc: String) -> ConfigKey where E.RawValue == String {
        key(path, doc, allowed: E.allCases.map(\.rawValue).joined(separator: ", "),
            apply: { (s, r) throws(ConfigProblem) in s[keyPath: kp] = try r.choice(E.self) },
            render: { .string($0[keyPath: kp].rawValue) })
    }

    static func topic(_ path: String, _ kp: WritableKeyPath<TokentrailSettings, String>, _ doc: String) -> ConfigKey {
        key(path, doc, allowed: topicAllowed,
            apply: { (s, r) throws(ConfigProblem) in s[keyPath: kp] = try r.topic() },
            render: { .string($0[keyPath: kp]) })
    }

    static func optionalTopic(_ path: String, _ kp: WritableKeyPath<TokentrailSettings, String?>, _ doc: String) -> ConfigKey {
        key(path, doc, allowed: "null or \(topicAllowed)",
            apply: { (s, r) throws(ConfigProblem) in
                if r.entry.value == .null || r.entry.value == .scalar("") { s[keyPath: kp] = nil } else { s[keyPath: kp] = try r.topic() }
            },
            render: { $0[keyPath: kp].map(RenderedValue.string) ?? .null })
    }

    static func optionalPath(_ path: String, _ kp: WritableKeyPath<TokentrailSettings, String?>, _ doc: String) -> ConfigKey {
        key(path, doc, allowed: "null or a file path",
            apply: { (s, r) throws(ConfigProblem) in
                if r.entry.value == .null { s[keyPath: kp] = nil; return }
                let v = try r.scalar().trimmingSpaces
                s[keyPath: kp] = v.isEmpty ? nil : v
            },
            render: { $0[keyPath: kp].map(RenderedValue.string) ?? .null })
    }

    static func strings(_ path: String, _ kp: WritableKeyPath<TokentrailSettings, [String]>, nonEmpty: Bool, _ doc: String) -> ConfigKey {
        key(path, doc, allowed: nonEmpty ? "a non-empty list of non-empty strings" : "a list of non-empty strings",
            apply: { (s, r) throws(ConfigProblem) in
                let l = try r.list()
                if l.contains(where: { $0.trimmingSpaces.isEmpty }) { throw r.fail("holds an empty string") }
                if nonEmpty && l.isEmpty { throw r.fail("is empty") }
                s[keyPath: kp] = l
            },
            render: { .list($0[keyPath: kp]) })
    }

    static func stringSet(_ path: String, _ kp: WritableKeyPath<TokentrailSettings, Set<String>>, nonEmpty: Bool, _ doc: String) -> ConfigKey {
        key(path, doc, allowed: nonEmpty ? "a non-empty list of non-empty strings" : "a list of non-empty strings",
            apply: { (s, r) throws(ConfigProblem) in
                let l = try r.list()
                if l.contains(where: { $0.trimmingSpaces.isEmpty }) { throw r.fail("holds an empty string") }
                if nonEmpty && l.isEmpty { throw r.fail("is empty") }
                s[keyPath: kp] = Set(l)
            },
            render: { .list($0[keyPath: kp].sorted()) })
    }

    static func evidence(_ leaf: String, _ kp: WritableKeyPath<TokentrailSettings, Int>, _ doc: String) -> ConfigKey {
        int("evidence.\(leaf)", kp, 1...10_000_000, doc)
    }

    /// Every key, in print order.
    public static var keys: [ConfigKey] {
        let day: Duration = .seconds(86_400)
        return [
            key("group_id", "Consumer group id: every process of one deployment uses the same; also names the repartition and checkpoint topics.",
                allowed: "a non-empty string",
                apply: { (s, r) throws(ConfigProblem) in
                    let g = try r.scalar().trimmingSpaces
                    guard ConfigSchema.isTopicName(g + ".checkpoints") else { throw r.fail("cannot name topics") }
                    s.groupID = g
                },
                render: { .string($0.groupID) }),
            key("instance_id", "Stable id of this process (exactly_once: part of its transactional.id); null means the host name, with -N for the N-th other process of the group on the host.",
                allowed: "null or a non-empty string",
                apply: { (s, r) throws(ConfigProblem) in
                    if r.entry.value == .null { s.instanceID = nil; return }
                    let v = try r.scalar().trimmingSpaces
                    s.instanceID = v.isEmpty ? nil : v
                },
                render: { $0.instanceID.map(RenderedValue.string) ?? .null }),
            bool("input_keyed", \.inputKeyed, "The input is already keyed by the grouping key: no route stage, no repartition topic."),
            choice("processing_guarantee", \.processingGuarantee,
                   "at_least_once: a crash may repeat an alert (same id and revision); exactly_once: transactions, read_committed readers see each once."),
            int("threads", \.threads, 1...64,
                "Pipelines in this process, each a consumer-group member with its own thread (as Kafka Streams' num.stream.threads): up to one per core; more than the input has partitions leaves some idle."),
            duration("commit_interval", \.commitInterval, Duration.milliseconds(100)...Duration.seconds(600),
                     "How often alerts are acknowledged, checkpoints written and offsets committed: the replay after a crash."),
            duration("tick_interval", \.tickInterval, Duration.milliseconds(10)...Duration.seconds(60),
                     "How often watermark markers are broadcast and timers (idle advance, open updates) run."),
            duration("session_timeout", \.sessionTimeout, Duration.seconds(6)...Duration.seconds(1_800),
                     "Consumer group session timeout: how long a silent member keeps its partitions."),
            duration("shutdown_timeout", \.shutdownTimeout, Duration.seconds(1)...Duration.seconds(600),
                     "Time to commit and leave the group after SIGTERM before exiting anyway."),

            strings("topics.input", \.inputTopics, nonEmpty: true, "Topics with CloudTrail events."),
            topic("topics.output", \.outputTopic, "Where alerts go (downstream SIEM tooling subscribes)."),
            topic("topics.dead_letter", \.deadLetterTopic, "Records that cannot be decoded, with their origin in headers."),
            optionalTopic("topics.repartition", \.repartitionTopic, "Route stage output keyed by the grouping key (unkeyed input); null means <group_id>.repartition."),
            optionalTopic("topics.checkpoint", \.checkpointTopic, "Per-partition {safe offset, watermark} records; null means <group_id>.checkpoints."),
            int("topics.dead_letter_max_bytes", \.deadLetterMaxBytes, 1_024...100_000_000,
                "Largest dead-lettered value; larger records are cut (a header says so) so that the DLQ never refuses one."),
            int("topics.create.partitions", \.createdTopicPartitions, 0...10_000,
                "Partitions of the topics tokentrail creates; 0 means as many as the input has."),
            int("topics.create.replication_factor", \.createdTopicReplicationFactor, 1...16,
                "Replication factor of the topics tokentrail creates (3 on a production cluster)."),
            duration("topics.create.retention", \.createdTopicRetention, Duration.seconds(60)...(day * 3_650),
                     "retention.ms of the topics tokentrail creates."),

            choice("output.format", \.outputFormat,
                   "How alerts are written (topics.output and scan): native, tokentrail's JSON (docs/alerts.md); ocsf, an OCSF \(OCSFAlertEncoder.ocsfVersion) Detection Finding; ecs, an Elastic Common Schema \(ECSAlertEncoder.ecsVersion) document."),

            key("rule.profile", "The rule profile every rule.* default comes from (other rule.* keys still override it): seed follows Elastic's first rule (PR #4624); elastic-2026 its current form (IAM users, any access key, by access key id, scored by networks, cities and user agents).",
                allowed: RuleConfiguration.profiles.map(\.name).joined(separator: ", "),
                apply: { (s, r) throws(ConfigProblem) in
                    let name = try r.scalar().trimmingSpaces
                    guard RuleConfiguration.profile(named: name) != nil else { throw r.fail("is not a known profile") }
                    // The profile's values were applied before every layer (ConfigurationLoader); here only the name.
                    s.ruleProfile = name
                },
                render: { .string($0.ruleProfile) }),
            key("rule.id", "Stable rule id: part of every alert_id, so changing it changes every id downstream.",
                allowed: "a non-empty string",
                apply: { (s, r) throws(ConfigProblem) in
                    let v = try r.scalar().trimmingSpaces
                    guard !v.isEmpty else { throw r.fail("is empty") }
                    s.detector.rule.id = v
                },
                render: { .string($0.detector.rule.id) }),
            key("rule.name", "Rule name shown in alerts.", allowed: "a non-empty string",
                apply: { (s, r) throws(ConfigProblem) in
                    let v = try r.scalar().trimmingSpaces
                    guard !v.isEmpty else { throw r.fail("is empty") }
                    s.detector.rule.name = v
                },
                render: { .string($0.detector.rule.name) }),
            key("rule.severity", "Severity in alerts.", allowed: "low, medium, high, critical",
                apply: { (s, r) throws(ConfigProblem) in
                    let v = try r.scalar().trimmingSpaces
                    guard ["low", "medium", "high", "critical"].contains(v) else { throw r.fail("is not one of the allowed values") }
                    s.detector.rule.severity = v
                },
                render: { .string($0.detector.rule.severity) }),
            int("rule.risk_score", \.detector.rule.riskScore, 0...100, "Risk score in alerts (Elastic's scale)."),
            stringSet("rule.identity_types", \.detector.rule.identityTypes, nonEmpty: true,
                      "userIdentity.type values that may count (root and service identities do not hold session tokens)."),
            strings("rule.access_key_prefixes", \.detector.rule.accessKeyPrefixes, nonEmpty: true,
                    "userIdentity.accessKeyId prefixes that count: ASIA is a temporary STS credential."),
            strings("rule.excluded_user_agents", \.detector.rule.excludedUserAgentSubstrings, nonEmpty: false,
                    "Case-insensitive userAgent substrings of automation whose traffic never counts."),
            stringSet("rule.excluded_event_sources", \.detector.rule.excludedEventSources, nonEmpty: false,
                      "eventSource values (exact) that never count, e.g. health.amazonaws.com."),
            key("rule.exclude_console_sessions", "Console sessions (sessionCredentialFromConsole) never count; off in seed.",
                allowed: "true or false",
                apply: { (s, r) throws(ConfigProblem) in s.detector.rule.excludeConsoleSessions = try r.bool() },
                render: { .bool($0.detector.rule.excludeConsoleSessions) }),
            key("rule.allowed_networks", "Trusted egress CIDRs (VPN, NAT gateways): an address inside one never counts.",
                allowed: "a list of CIDR blocks, e.g. 203.0.113.0/24, 2001:db8::/32",
                apply: { (s, r) throws(ConfigProblem) in
                    var blocks: [CIDRBlock] = []
                    for text in try r.list() {
                        guard let b = CIDRBlock(parsing: text.trimmingSpaces) else {
                            throw ConfigProblem(path: r.path, value: "'\(text)'", problem: "is not a CIDR block", allowed: r.allowed, source: r.entry.source)
                        }
                        blocks.append(b)
                    }
                    s.detector.rule.allowedNetworks = blocks
                },
                render: { .list($0.detector.rule.allowedNetworks.map(\.description)) }),
            key("rule.allowed_principals", "Principal ARN patterns (* matches any run) that never count, e.g. break-glass roles.",
                allowed: "a list of ARN patterns",
                apply: { (s, r) throws(ConfigProblem) in
                    let l = try r.list()
                    if l.contains(where: { $0.trimmingSpaces.isEmpty }) { throw r.fail("holds an empty pattern") }
                    s.detector.rule.allowedPrincipals = l.map { PrincipalPattern($0.trimmingSpaces) }
                },
                render: { .list($0.detector.rule.allowedPrincipals.map(\.pattern)) }),
            key("rule.allowed_accounts", "AWS account ids whose principals never count: the principal's own account (userIdentity.accountId, else the ARN's), not recipientAccountId.",
                allowed: "a list of 12-digit AWS account ids",
                apply: { (s, r) throws(ConfigProblem) in
                    var accounts: Set<String> = []
                    for text in try r.list() {
                        let id = text.trimmingSpaces
                        guard ExceptionsFile.isAccountID(id) else {
                            throw ConfigProblem(path: r.path, value: "'\(text)'", problem: "is not an AWS account id", allowed: r.allowed, source: r.entry.source)
                        }
                        accounts.insert(id)
                    }
                    s.detector.rule.allowedAccounts = accounts
                },
                render: { .list($0.detector.rule.allowedAccounts.sorted()) }),
            optionalPath("rule.exceptions_file", \.exceptionsFile,
                         "A YAML list of exceptions a team owns (match, comment, owner, expires): matching events never count; reloaded on change (docs/configuration.md#exceptions)."),
            int("rule.threshold", \.detector.rule.threshold, 1...1_000_000, "Distinct source addresses a window must hold to alert."),
            duration("rule.window_size", \.detector.rule.windowSize, Duration.seconds(1)...day,
                     "Tumbling window size, aligned to the Unix epoch like date_trunc."),
            choice("rule.grouping_key", \.detector.rule.groupingKey,
                   "What a window groups by and the alert record key: the principal, or one access key."),
            choice("rule.address_normalization", \.detector.rule.addressNormalization,
                   "exact; or ipv6_prefix64: one /64 counts once (privacy addresses are one host)."),
            stringSet("rule.excluded_network_organizations", \.detector.rule.excludedNetworkOrganizations, nonEmpty: false,
                      "AS organisations (exact, from the ASN database) whose addresses never count, e.g. AMAZON-AES."),
            stringSet("rule.excluded_data_event_network_organizations", \.detector.rule.excludedDataEventNetworkOrganizations, nonEmpty: false,
                      "AS organisations whose Data events (eventCategory) never count, e.g. AMAZON-02."),
            key("rule.min_fidelity", "off: alert on threshold addresses alone; low, medium, high: the window must also reach this fidelity (Elastic's activity types; needs the GeoIP databases for medium and high).",
                allowed: "off, low, medium, high",
                apply: { (s, r) throws(ConfigProblem) in
                    let v = try r.scalar().trimmingSpaces
                    if v == "off" { s.detector.rule.minimumFidelity = nil; return }
                    guard let f = Fidelity(rawValue: v) else { throw r.fail("is not one of the allowed values") }
                    s.detector.rule.minimumFidelity = f
                },
                render: { .string($0.detector.rule.minimumFidelity?.rawValue ?? "off") }),
            int("rule.min_event_sources", \.detector.rule.minimumEventSources, 1...1_000,
                "Distinct eventSource values a window must hold to alert (elastic-2026: 2)."),
            choice("rule.suppression.by", \.detector.suppression.by,
                   "off: every window is its own alert; otherwise later windows of the same grouping key, access key or session issuer (the role) update one incident (docs/alerts.md, Suppression)."),
            duration("rule.suppression.for", \.detector.suppression.period, Duration.seconds(1)...(day * 30),
                     "The longest quiet time (event time) between an incident's last window and a later window that still joins it; a multiple of rule.window_size. The incident is final once it has passed."),

            duration("time.max_out_of_orderness", \.detector.maxOutOfOrderness, Duration.zero...day,
                     "Watermark = highest event time minus this: CloudTrail's delivery delay."),
            int("state.max_windows", \.detector.maxWindows, 1_000...1_000_000_000,
                "Most (principal, window) pairs a pipeline thread holds; at the bound new ones are refused and counted (tokentrail_windows_refused_total)."),
            duration("time.max_future_skew", \.detector.maxFutureSkew, Duration.zero...day,
                     "Events dated more than this ahead of the wall clock are dead-lettered (event_time_in_future) and never move a watermark."),
            duration("time.allowed_lateness", \.detector.allowedLateness, Duration.zero...day,
                     "A fired window stays updatable this long; later events are counted late."),
            key("time.idle_timeout", "A caught-up partition silent this long follows the wall clock, so the last windows close; off disables it.",
                allowed: "off, or \(DurationText.syntax), from 1s to 1d",
                apply: { (s, r) throws(ConfigProblem) in
                    if r.entry.value == .null || r.entry.value == .scalar("off") { s.detector.idleTimeout = nil; return }
                    s.detector.idleTimeout = try r.duration(Duration.seconds(1)...day)
                },
                render: { $0.detector.idleTimeout.map { .string(DurationText.format($0)) } ?? .string("off") }),
            key("time.empty_partition_timeout",
                "An input partition that never yielded an event stops holding windows open after idling this long; null means ten times idle_timeout.",
                allowed: "null, or \(DurationText.syntax), from 1s to 1d",
                apply: { (s, r) throws(ConfigProblem) in
                    if r.entry.value == .null { s.detector.emptyPartitionTimeout = nil; return }
                    s.detector.emptyPartitionTimeout = try r.duration(Duration.seconds(1)...day)
                },
                render: { $0.detector.emptyPartitionTimeout.map { .string(DurationText.format($0)) } ?? .null }),
            duration("time.update_interval", \.detector.updateInterval, Duration.zero...day,
                     "At most one open-alert revision per this much event time while addresses keep arriving."),
            bool("time.emit_open_alerts", \.detector.emitOpenAlerts, "Emit open alerts as soon as a window meets the threshold; false: final alerts only."),

            evidence("source_addresses", \.detector.evidenceLimits.sourceAddresses, "Addresses listed in an alert (the count stays exact)."),
            evidence("access_key_ids", \.detector.evidenceLimits.accessKeyIds, "Access key ids listed in an alert."),
            evidence("user_agents", \.detector.evidenceLimits.userAgents, "User agents listed in an alert."),
            evidence("event_sources", \.detector.evidenceLimits.eventSources, "Event sources listed in an alert."),
            evidence("event_names", \.detector.evidenceLimits.eventNames, "Event names listed in an alert."),
            evidence("aws_regions", \.detector.evidenceLimits.awsRegions, "Regions listed in an alert."),
            evidence("sample_event_ids", \.detector.evidenceLimits.sampleEventIDs, "Event ids to pivot back to raw logs."),
            evidence("input_ranges", \.detector.evidenceLimits.inputRanges, "Topic/partition/offset ranges to pivot back to raw records."),
            evidence("distinct_tracking_limit", \.detector.evidenceLimits.distinctTrackingLimit,
                     "Fingerprints kept per list past the bound for exact counts (~8 bytes each): one hostile principal's memory cap."),

            optionalPath("enrichment.city_database", \.enrichment.cityDatabase,
                         "MaxMind-format City database (.mmdb: GeoLite2/GeoIP2 City): country and city per address; null: none."),
            optionalPath("enrichment.asn_database", \.enrichment.asnDatabase,
                         "MaxMind-format ASN database (.mmdb: GeoLite2/GeoIP2 ASN): AS number and organisation per address; null: none."),
            int("enrichment.cache_size", \.enrichment.cacheSize, 0...10_000_000,
                "Addresses whose lookup is cached (about 100 bytes each); 0 disables the cache."),
            duration("enrichment.reload_interval", \.enrichment.reloadInterval, Duration.zero...day,
                     "How often the GeoIP database files and rule.exceptions_file are checked for a change (inode, size, mtime) and reloaded."),

            key("aws_msk_iam.region",
                "Amazon MSK IAM authentication: the cluster's region. Needs kafka.sasl.mechanism OAUTHBEARER (and security.protocol SASL_SSL); tokens are signed with the standard AWS credential chain.",
                allowed: "null, or an AWS region name such as us-east-1",
                apply: { (s, r) throws(ConfigProblem) in
                    if r.entry.value == .null || r.entry.value == .scalar("") { s.awsMSKIAM.region = nil; return }
                    let region = try r.scalar().trimmingSpaces
                    guard MSKAuthToken.isRegion(region) else { throw r.fail("is not an AWS region name") }
                    s.awsMSKIAM.region = region
                },
                render: { $0.awsMSKIAM.region.map(RenderedValue.string) ?? .null }),
            key("aws_msk_iam.profile",
                "A profile of the shared AWS files (~/.aws/credentials, ~/.aws/config) to take the credentials from instead of the whole chain; null: the chain (environment, web identity, AWS_PROFILE or default profile, container, EC2 instance).",
                allowed: "null or a profile name",
                apply: { (s, r) throws(ConfigProblem) in
                    if r.entry.value == .null { s.awsMSKIAM.profile = nil; return }
                    let v = try r.scalar().trimmingSpaces
                    s.awsMSKIAM.profile = v.isEmpty ? nil : v
                },
                render: { $0.awsMSKIAM.profile.map(RenderedValue.string) ?? .null }),

            bool("metrics.enabled", \.metrics.enabled, "Serve /metrics, /healthz and /readyz."),
            key("metrics.address", "Listen address of the metrics/health endpoint; 0.0.0.0 to expose it outside the host or pod.",
                allowed: "an IPv4 or IPv6 address, or localhost",
                apply: { (s, r) throws(ConfigProblem) in
                    let a = try r.scalar().trimmingSpaces
                    guard a == "localhost" || SourceAddress(parsing: a) != .notAnAddress else { throw r.fail("is not an address") }
                    s.metrics.address = a
                },
                render: { .string($0.metrics.address) }),
            int("metrics.port", \.metrics.port, 0...65_535, "Listen port (9464: OpenTelemetry's Prometheus exporter port); 0 picks a free one (logged)."),
            duration("metrics.liveness_timeout", \.metrics.livenessTimeout, Duration.seconds(10)...day,
                     "/healthz fails when a pipeline thread has made no progress this long (wedged); a broker that is away does not fail it."),

            choice("logging.level", \.logging.level, "Lowest level logged; librdkafka's own lines follow it too."),
            choice("logging.format", \.logging.format, "json: one JSON object per line; text: for people; auto: json unless stderr is a terminal."),
        ]
    }

    /// Keys by path.
    static var byPath: [String: ConfigKey] {
        Dictionary(uniqueKeysWithValues: keys.map { ($0.path, $0) })
    }
}

