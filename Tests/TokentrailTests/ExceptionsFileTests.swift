import CloudTrail
import Detection
import Foundation
import Logging
import Testing
import TokentrailCore

/// `rule.exceptions_file` and `rule.allowed_accounts`: validation, matching through the rule, reload,
/// the metric, and the commands.
@Suite struct ExceptionsFileTests {
    static let good = """
        # Exceptions of the platform teams.
        - name: corp-vpn
          match: {cidr: [203.0.113.0/24, "2001:db8:100::/48"]}
          comment: egress of the corporate VPN
          owner: netops@example.com
        - name: prowler-scans
          match:
            arn: arn:aws:sts::123456789012:assumed-role/SecurityAudit/*
            user_agent_contains: prowler
            event_source: [s3.amazonaws.com, iam.amazonaws.com]
          comment: weekly posture scan from two runners
          owner: secops
          expires: 2026-12-31
        - name: sandbox
          match: {account_id: "210987654321"}
          comment: sandbox account, throwaway sessions
          owner: platform
          expires: 2026-03-02T08:10:00Z

        """

    static let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    static func temporary(_ text: String, name: String = "exceptions.yaml") throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tt-exc-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = "\(dir)/\(name)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aGoodFileParsesEveryKey() throws {
        let entries = try ExceptionsFile.parse(Self.good, file: "x.yaml", asnAvailable: false)
        #expect(entries.map(\.name) == ["corp-vpn", "prowler-scans", "sandbox"])
        #expect(entries[0].match.networks.map(\.description) == ["203.0.113.0/24", "2001:db8:100::/48"])
        #expect(entries[0].expires == nil)
        #expect(entries[1].match.principals.map(\.pattern) == ["arn:aws:sts::123456789012:assumed-role/SecurityAudit/*"])
        #expect(entries[1].match.eventSources == ["s3.amazonaws.com", "iam.amazonaws.com"])
        #expect(entries[1].match.userAgentSubstrings == ["prowler"])
        // A date is that day's start, UTC; a time is that instant.
        #expect(entries[1].expires.map(RFC3339.format) == "2026-12-31T00:00:00Z")
        #expect(entries[2].expires.map(RFC3339.format) == "2026-03-02T08:10:00Z")
        #expect(entries[2].match.accounts == ["210987654321"])
        #expect(entries[1].owner == "secops" && entries[1].comment == "weekly posture scan from two runners")
        #expect(try ExceptionsFile.parse("", file: "x.yaml", asnAvailable: false).isEmpty)
        #expect(try ExceptionsFile.parse("# nothing yet\n", file: "x.yaml", asnAvailable: false).isEmpty)
    }

    static let entry = "  comment: c\n  owner: o\n"

    @Test(arguments: [
        ("- name: a\n  match: {cidr: 10.0.0.0/8}\n\(entry)  expire: 2026-01-01\n", "entry 1 (a, line 1): expire", "is not an exception key"),
        ("- name: a\n  match: {cidr: 10.0.0.0/8, port: 22}\n\(entry)", "entry 1 (a, line 1): match.port", "is not a match key"),
        ("- name: a\n  match: {cidr: 10.0.0.0/33}\n\(entry)", "entry 1 (a, line 1): match.cidr", "'10.0.0.0/33' is not a CIDR block"),
        ("- name: a\n  match: {cidr: [\"2001:db8::/129\"]}\n\(entry)", "match.cidr", "'2001:db8::/129' is not a CIDR block"),
        ("- name: a\n  match: {cidr: 10.0.0.0/8}\n\(entry)- name: a\n  match: {cidr: 10.0.0.0/8}\n\(entry)",
         "entry 2 (a, line 5): name", "'a' is already the name of the entry at line 1"),
        ("- name: a\n  match: {cidr: 10.0.0.0/8}\n  comment: c\n", "entry 1 (a, line 1): owner", "is missing"),
        ("- name: a\n  match: {cidr: 10.0.0.0/8}\n  comment: c\n  owner: \"\"\n", "owner", "is empty"),
        ("- name: a\n  match: {cidr: 10.0.0.0/8}\n  owner: o\n", "comment", "is missing"),
        ("- name: a\n  match: {cidr: 10.0.0.0/8}\n\(entry)  expires: next year\n", "expires", "'next year' is not a date or an RFC 3339 time"),
        ("- name: a\n  match: {cidr: 10.0.0.0/8}\n\(entry)  expires: 2026-02-30\n", "expires", "'2026-02-30' is not a date"),
        ("- name: a\n  match: {cidr: 10.0.0.0/8}\n\(entry)  expires: 2026-12-31T18:00:00\n", "expires", "is not a date or an RFC 3339 time"),
        ("- name: a\n  match: {}\n\(entry)", "match", "is empty: it would except every event"),
        ("- name: a\n\(entry)", "match", "is missing"),
        ("- name: a\n  match: {account_id: 1234}\n\(entry)", "match.account_id", "'1234' is not an AWS account id"),
        ("- name: a\n  match: {arn: deploy-role}\n\(entry)", "match.arn", "is not an ARN pattern"),
        ("- name: a\n  match: {as_organization: AMAZON-02}\n\(entry)", "match.as_organization", "needs an ASN database"),
        ("- name: a b\n  match: {cidr: 10.0.0.0/8}\n\(entry)", "name", "is not a valid exception name"),
        ("- match: {cidr: 10.0.0.0/8}\n\(entry)", "entry 1 (line 1): name", "is missing"),
        ("corp-vpn: {cidr: 10.0.0.0/8}\n", "", "is not a list of exceptions"),
        ("- [a, b]\n", "entry 1 (line 1)", "is not a mapping"),
        ("- name: a\n  match: {cidr: [10.0.0.0/8, \"\"]}\n\(entry)", "match.cidr", "holds an empty value"),
    ])
    func aBadFileNamesTheEntryAndTheKey(yaml: String, where place: String, problem: String) throws {
        #expect {
            try ExceptionsFile.parse(yaml, file: "team.yaml", asnAvailable: false)
        } throws: { error in
            let e = error as! ExceptionsFileError
            let text = e.description
            return text.hasPrefix("team.yaml: ") && (place.isEmpty || text.contains(place)) && text.contains(problem)
        }
    }

    @Test func theShippedExampleValidates() throws {
        let path = RuleTestCommandTests.root.appendingPathComponent("config/exceptions.yaml").path
        let entries = try ExceptionsFile.parse(contentsOf: path, asnAvailable: false)
        #expect(entries.map(\.name) == ["corp-vpn", "prowler-posture-scan", "data-lake-exports"])
        #expect(entries.allSatisfy { !$0.owner.isEmpty && !$0.comment.isEmpty })
    }

    @Test func asOrganizationIsAcceptedWithAnASNDatabase() throws {
        let entries = try ExceptionsFile.parse("- name: a\n  match: {as_organization: [AMAZON-02]}\n\(Self.entry)", file: "x", asnAvailable: true)
        #expect(entries[0].match.asOrganizations == ["AMAZON-02"])
    }

    // MARK: configuration

    @Test func aBadFileAtStartIsAProblemOfTheKeyNamingTheFileAndEntry() throws {
        let path = try Self.temporary("- name: a\n  match: {cidr: 10.0.0.0/33}\n\(Self.entry)")
        var layer = ConfigLayer()
        layer.set("rule.exceptions_file", .scalar(path), source: .flag(name: "--config"))
        let settings = try ConfigurationLoader.resolve([layer])
        #expect(settings.exceptionsFile == path)
        #expect {
            try settings.makeDetection(logger: Self.quiet)
        } throws: { error in
            let problem = (error as! DetectionSetupError).problem(settings).description
            return problem.hasPrefix("rule.exceptions_file: '\(path)' entry 1 (a, line 1): match.cidr '10.0.0.0/33' is not a CIDR block")
                && problem.contains("allowed: an IPv4 or IPv6 CIDR block")
        }
        var missing = ConfigLayer()
        missing.set("rule.exceptions_file", .scalar("/nonexistent/exceptions.yaml"), source: .flag(name: "--config"))
        #expect(throws: DetectionSetupError.self) { try ConfigurationLoader.resolve([missing]).makeDetection(logger: Self.quiet) }
    }

    @Test func allowedAccountsAreValidated() throws {
        var layer = ConfigLayer()
        layer.set("rule.allowed_accounts", .list(["123456789012", " 210987654321 "]), source: .flag(name: "x"))
        #expect(try ConfigurationLoader.resolve([layer]).detector.rule.allowedAccounts == ["123456789012", "210987654321"])
        var bad = ConfigLayer()
        bad.set("rule.allowed_accounts", .list(["123456789012", "12345"]), source: .flag(name: "x"))
        #expect {
            try ConfigurationLoader.resolve([bad])
        } throws: { error in
            let text = "\(error)"
            return text.contains("rule.allowed_accounts: '12345' is not an AWS account id (allowed: a list of 12-digit AWS account ids)")
        }
    }

    // MARK: matching through the rule, reload, metric

    static func event(_ address: String, time: String = "2026-03-02T08:05:00Z", account: String = "123456789012") -> [UInt8] {
        Array(#"{"eventTime":"\#(time)","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"\#(address)","userAgent":"aws-cli/2","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::\#(account):assumed-role/a/b","accountId":"\#(account)","accessKeyId":"ASIAEXAMPLE"}}"#.utf8)
    }

    /// What the rule says of each event, with the exceptions read once (as a batch does).
    static func reasons(_ rule: DetectionRule, _ events: [[UInt8]]) -> [String] {
        let decoder = CloudTrailDecoder(fields: DetectionRule.fieldsRead)
        var result = CloudTrailDecodeResult()
        var out: [String] = []
        let exceptions = rule.exceptionsInForce()
        for e in events {
            decoder.decodeEach(e, into: &result) { event in
                switch rule.keep(event, exceptions: exceptions) {
                case .success: out.append("kept")
                case .failure(let r): out.append(r.label)
                }
            }
        }
        return out
    }

    @Test func matchesExpiryByEventTimeAndTheMetric() throws {
        let path = try Self.temporary(Self.good)
        var settings = TokentrailSettings()
        settings.exceptionsFile = path
        let sink = LogSink.capture()
        let logger = Logger(label: "t") { _ in CapturingLogHandler(sink: sink) }
        let setup = try settings.makeDetection(logger: logger)
        let exceptions = try #require(setup.exceptions)
        #expect(Self.reasons(setup.rule, [
            Self.event("203.0.113.7"), Self.event("198.51.100.7"),
            Self.event("198.51.100.7", time: "2026-03-02T08:09:59Z", account: "210987654321"),
            Self.event("198.51.100.7", time: "2026-03-02T08:10:00Z", account: "210987654321"),
            Self.event("198.51.100.8", time: "2026-03-02T08:11:00Z", account: "210987654321"),
            Self.event("2001:db8:100:1::5"),
        ]) == ["exception", "kept", "exception", "kept", "kept", "exception"])
        #expect(exceptions.matchCounts == ["corp-vpn": 2, "prowler-scans": 0, "sandbox": 1])
        let expired = sink.captured.filter { $0.contains("exception expired") }
        #expect(expired.count == 1, "\(sink.captured)")
        #expect(expired.first.map { $0.contains("sandbox") && $0.contains("platform") && $0.contains("2026-03-02T08:10:00Z") } == true)

        let metrics = PipelineMetrics(version: "1", librdkafka: "2")
        metrics.publish(exceptionMatches: exceptions.matchCounts)
        _ = Self.reasons(setup.rule, [Self.event("203.0.113.8")])
        metrics.publish(exceptionMatches: exceptions.matchCounts)
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains("# TYPE tokentrail_exception_matches_total counter"), "\(text)")
        #expect(text.contains(#"tokentrail_exception_matches_total{exception="corp-vpn"} 3"#), "\(text)")
        #expect(text.contains(#"tokentrail_exception_matches_total{exception="sandbox"} 1"#), "\(text)")
        #expect(text.contains(#"tokentrail_exception_matches_total{exception="prowler-scans"} 0"#), "\(text)")
    }

    @Test func aChangedFileIsReloadedAndABadOneKeepsTheExceptionsInForce() throws {
        let path = try Self.temporary("- name: corp-vpn\n  match: {cidr: 203.0.113.0/24}\n\(Self.entry)")
        let sink = LogSink.capture()
        let logger = Logger(label: "t") { _ in CapturingLogHandler(sink: sink) }
        let file = try ExceptionsFile(path: path, asnAvailable: false, reloadCheckInterval: .zero, logger: logger)
        let rule = DetectionRule(.seed, exceptions: file)
        #expect(Self.reasons(rule, [Self.event("203.0.113.7"), Self.event("198.51.100.7")]) == ["exception", "kept"])

        // Bad: the old exceptions stay, and the log says which file, entry and key.
        try "- name: corp-vpn\n  match: {cidr: 203.0.113.0/24}\n\(Self.entry)- name: office\n  match: {cidr: 198.51.100.0/33}\n\(Self.entry)"
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect(Self.reasons(rule, [Self.event("203.0.113.7"), Self.event("198.51.100.7")]) == ["exception", "kept"])
        #expect((file.statistics.reloads, file.statistics.reloadFailures) == (0, 1))
        let failure = try #require(sink.captured.first { $0.contains("keeping the exceptions in force") })
        #expect(failure.contains(path) && failure.contains("entry 2 (office, line 5)") && failure.contains("match.cidr"), "\(failure)")
        // Reported once per change, not at every check.
        _ = Self.reasons(rule, [Self.event("198.51.100.7")])
        #expect(file.statistics.reloadFailures == 1)

        // Fixed: swapped in whole; the count of a name carries over.
        try "- name: office\n  match: {cidr: 198.51.100.0/24}\n\(Self.entry)- name: corp-vpn\n  match: {cidr: 203.0.113.0/24}\n\(Self.entry)"
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect(Self.reasons(rule, [Self.event("203.0.113.7"), Self.event("198.51.100.7"), Self.event("192.0.2.1")])
                == ["exception", "exception", "kept"])
        #expect(file.names == ["office", "corp-vpn"])
        #expect(file.matchCounts == ["corp-vpn": 3, "office": 1])
        #expect((file.statistics.reloads, file.statistics.reloadFailures) == (1, 1))
        let metrics = PipelineMetrics(version: "1", librdkafka: "2")
        metrics.publish(exceptions: file)
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains("tokentrail_exceptions_reloads_total 1") && text.contains("tokentrail_exceptions_reload_failures_total 1"), "\(text)")
        #expect(text.contains(#"tokentrail_exception_matches_total{exception="office"} 1"#), "\(text)")

        // Removed: the exceptions in force stay until a valid file is back.
        try FileManager.default.removeItem(atPath: path)
        #expect(Self.reasons(rule, [Self.event("203.0.113.7")]) == ["exception"])
        #expect(file.statistics.reloadFailures == 2)
        _ = Self.reasons(rule, [Self.event("203.0.113.7")])
        #expect(file.statistics.reloadFailures == 2)
    }

    @Test func withoutAChangeNothingIsReparsed() throws {
        let path = try Self.temporary("- name: corp-vpn\n  match: {cidr: 203.0.113.0/24}\n\(Self.entry)")
        let file = try ExceptionsFile(path: path, asnAvailable: false, reloadCheckInterval: .zero, logger: Self.quiet)
        for _ in 0..<3 { _ = file.current() }
        #expect(!file.checkForChanges())
        #expect(file.statistics == ExceptionsFile.Statistics())
    }

    // MARK: the binary

    @Test func checkConfigAndScanHonourTheFile() throws {
        let bad = try Self.temporary("- name: vpn\n  match: {cidr: 203.0.113.0/24}\n  comment: c\n")
        let config = try writeTemporary("rule:\n  exceptions_file: \(bad)\n")
        let (status, out, err) = try Tokentrail.run(["check-config", "--skip-kafka-check", "--config", config])
        #expect(status == 2, "\(err)")
        #expect(err.contains("rule.exceptions_file: '\(bad)' entry 1 (vpn, line 1): owner is missing"), "\(err)")
        #expect(out.isEmpty)

        // The shipped true positive: an exception for one of its two addresses leaves one, so no alert.
        let events = RuleTestCommandTests.root.appendingPathComponent("rules/tests/seed-true-positive/events.json").path
        let (before, alerts, _) = try Tokentrail.run(["scan", "--workers", "1", events])
        #expect(before == 0 && alerts.split(separator: "\n").count == 1, "\(alerts)")
        let good = try Self.temporary("- name: office\n  match: {cidr: 198.51.100.0/24}\n  comment: c\n  owner: o\n")
        let goodConfig = try writeTemporary("rule:\n  exceptions_file: \(good)\n")
        let (after, none, summary) = try Tokentrail.run(["scan", "--workers", "1", "--config", goodConfig, events])
        #expect(after == 0, "\(summary)")
        #expect(none.isEmpty, "\(none)")
        #expect(summary.contains("exception"), "\(summary)")
        let (shown, printed, _) = try Tokentrail.run(["check-config", "--skip-kafka-check", "--config", goodConfig])
        #expect(shown == 0)
        #expect(printed.contains("exceptions_file: \"\(good)\""), "\(printed)")
    }
}
