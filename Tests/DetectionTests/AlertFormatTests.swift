import CloudTrail
import Foundation
import Testing

@testable import Detection

/// GeoIP answers for the documentation addresses (RFC 5737, RFC 3849) and ASNs (RFC 5398).
struct ExampleEnricher: AddressEnricher {
    let table: [String: AddressEnrichment] = [
        "198.51.100.23": AddressEnrichment(asn: 64500, asOrganization: "EXAMPLE-CLOUD", countryCode: "US", city: "Ashburn"),
        "203.0.113.77": AddressEnrichment(asn: 64501, asOrganization: "EXAMPLE-HOSTING", countryCode: "NL", city: "Amsterdam"),
        "2001:db8:4::9": AddressEnrichment(asn: 64502, asOrganization: "EXAMPLE-MOBILE", countryCode: "BR"),
    ]
    func enrich(_ address: SourceAddress) -> AddressEnrichment? { table[address.description] }
    var hasASN: Bool { true }
    var hasCity: Bool { true }
}

/// The external validator (scripts/validate-alerts, with the Python packages scripts/bootstrap
/// installs): skipped without them on a developer's machine, failing in CI.
enum AlertValidator {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    static var python: String? {
        if let p = ProcessInfo.processInfo.environment["TOKENTRAIL_PYTHON"], !p.isEmpty { return p }
        let venv = root.appendingPathComponent(".venv/bin/python").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
    }

    static let hasTools: Bool = {
        guard let python else { return false }
        return (try? run(python, ["-c", "import ocsf_json_schema, jsonschema, yaml"], input: []).status) == 0
    }()

    static var isEnabled: Bool { hasTools || isCI }

    static func run(_ executable: String, _ arguments: [String], input: [UInt8]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let stdin = Pipe(), stdout = Pipe()
        p.standardInput = stdin
        p.standardOutput = stdout
        p.standardError = stdout
        try p.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self))
    }

    /// Validates records (one per line) in `format`; the status and what the validator printed.
    static func validate(_ records: [[UInt8]], format: AlertFormat) throws -> (status: Int32, output: String) {
        guard let python, hasTools else {
            Issue.record("no Python with ocsf-json-schema, jsonschema and PyYAML: run scripts/bootstrap (creates .venv/) or set TOKENTRAIL_PYTHON")
            return (-1, "")
        }
        var lines: [UInt8] = []
        for record in records { lines += record + [0x0A] }
        return try run(python, [root.appendingPathComponent("scripts/validate-alerts").path, "--format", format.rawValue, "-"], input: lines)
    }
}

@Suite("OCSF and ECS alert records")
struct AlertFormatTests {
    /// One window from the detector: `open` revision 1 at the second address, `open` revision 2 at
    /// the third, then `final`. `enriched`: with GeoIP answers; `keys`: access keys the events use.
    static func lifecycle(enriched: Bool = true, keys: [String] = ["ASIAEXAMPLEKEY000001"],
                          normalization: AddressNormalization = .exact, session: Bool = true) -> [Alert] {
        var configuration = DetectorConfiguration()
        configuration.rule.addressNormalization = normalization
        let rule = DetectionRule(configuration.rule, enricher: enriched ? ExampleEnricher() : nil)
        var h = Harness(configuration)
        let events = [
            makeEvent(time: baseTime + 4 * minute + 12_000, address: ipv4("198.51.100.23"), accessKeyId: keys[0],
                      eventName: "GetCallerIdentity", eventID: "0b6e7f9a-2f4c-4d67-9a55-8f1e3c2b7a10"),
            makeEvent(time: baseTime + 17 * minute + 3_000, address: ipv4("203.0.113.77"), accessKeyId: keys[keys.count > 1 ? 1 : 0],
                      userAgent: "python-requests/2.31.0", eventSource: "secretsmanager.amazonaws.com",
                      eventName: "GetSecretValue", eventID: "7c1d2e3f-4a5b-4c6d-8e9f-a0b1c2d3e4f5"),
            makeEvent(time: baseTime + 26 * minute + 40_000, address: ipv4("2001:db8:4::9"), accessKeyId: keys[0],
                      userAgent: "python-requests/2.31.0", eventSource: "secretsmanager.amazonaws.com",
                      eventName: "ListSecrets", eventID: "9e8d7c6b-5a49-4838-a727-16e5f4d3c2b1"),
        ]
        for (i, var event) in events.enumerated() {
            if session {
                event.userIdentity.sessionIssuerArn = "arn:aws:iam::123456789012:role/service/deploy"
                event.userIdentity.sessionCreationDate = "2026-03-02T07:12:09Z"
                event.userIdentity.mfaAuthenticated = false
                event.userIdentity.sourceIdentity = "alice@example.com"
            }
            let origin = EventOrigin(topic: "cloudtrail", partition: 2, offset: 81_920 + Int64(i) * 37)
            h.process(try! rule.evaluate(event, origin: origin).get(), partition: 1, offset: 5_000 + Int64(i),
                      now: at(event.eventTime.millisecondsSinceEpoch + 90_000))
        }
        h.advance(partition: 1, to: at(baseTime + 30 * minute), now: at(baseTime + 40 * minute))
        return h.alerts
    }

    static func parse(_ bytes: [UInt8]) throws -> JSON { try JSONParser.parse(bytes) }

    static func strings(_ json: JSON?) -> [String] {
        if let s = json?.stringValue { return [s] }
        return json?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    static func path(_ json: JSON, _ keys: String...) -> JSON? {
        var node: JSON? = json
        for key in keys { node = node?[key] }
        return node
    }

    static func millis(_ text: String?) -> Int? {
        text.flatMap { RFC3339.parse($0) }.map { Int($0.millisecondsSinceEpoch) }
    }

    /// The facts a responder acts on, as the native record says them.
    struct Facts: Equatable, CustomStringConvertible {
        var alertID, status: String
        var revision: Int
        var arn, principalType: String
        var account: String?
        var accessKeyIds, addresses, userAgents: [String]
        var windowStart, windowEnd: String?
        var firstSeen, lastSeen, detectedAt: Int?
        var eventCount, addressCount: Int
        var ruleID: String?
        var issuer, sourceIdentity: String?
        var created: Int?
        var mfa: Bool?
        /// The response's command and policy, or why there is none.
        var cli, policy, noResponseReason: String?
        var description: String { "\(alertID) \(status) r\(revision) \(arn) \(accessKeyIds) \(addresses) \(userAgents) \(eventCount)/\(addressCount) [\(windowStart ?? "-"), \(windowEnd ?? "-")] \(firstSeen ?? 0)-\(lastSeen ?? 0)" }
    }

    static func bool(_ json: JSON?) -> Bool? { if case .bool(let b)? = json { b } else { nil } }

    static func nativeFacts(_ j: JSON) -> Facts {
        Facts(alertID: j["alert_id"]!.stringValue!, status: j["status"]!.stringValue!, revision: j["revision"]!.intValue!,
              arn: path(j, "principal", "arn")!.stringValue!, principalType: path(j, "principal", "type")!.stringValue!,
              account: path(j, "principal", "account_id")?.stringValue, accessKeyIds: strings(j["access_key_ids"]),
              // An IP field holds a /64 (ipv6_prefix64) as its first address.
              addresses: strings(path(j, "source_addresses", "values")).map { $0.hasSuffix("/64") ? String($0.dropLast(3)) : $0 }, userAgents: strings(j["user_agents"]),
              windowStart: path(j, "window", "start")?.stringValue, windowEnd: path(j, "window", "end")?.stringValue,
              firstSeen: millis(j["first_seen"]?.stringValue), lastSeen: millis(j["last_seen"]?.stringValue),
              detectedAt: millis(j["detected_at"]?.stringValue), eventCount: j["event_count"]!.intValue!,
              addressCount: path(j, "source_addresses", "count")!.intValue!, ruleID: path(j, "rule", "id")?.stringValue,
              issuer: path(j, "session", "issuer_arn")?.stringValue, sourceIdentity: path(j, "session", "source_identity")?.stringValue,
              created: millis(path(j, "session", "created_at")?.stringValue), mfa: bool(path(j, "session", "mfa_authenticated")),
              cli: path(j, "response", "aws_cli")?.stringValue, policy: path(j, "response", "policy_document")?.stringValue,
              noResponseReason: path(j, "response", "reason")?.stringValue)
    }

    /// The same facts read from the OCSF record's own attributes, `unmapped.tokentrail` only where OCSF has none.
    static func ocsfFacts(_ j: JSON) -> Facts {
        let extra = path(j, "unmapped", "tokentrail")
        let activity = j["activity_id"]?.intValue
        let evidences = j["evidences"]?.arrayValue ?? []
        return Facts(alertID: path(j, "finding_info", "uid")!.stringValue!,
                     status: activity == 3 ? "final" : "open",
                     revision: extra?["revision"]?.intValue ?? 0,
                     arn: path(j, "actor", "user", "uid")!.stringValue!, principalType: path(j, "actor", "user", "type")!.stringValue!,
                     account: path(j, "cloud", "account", "uid")?.stringValue,
                     accessKeyIds: path(j, "actor", "session", "uid").map { strings($0) } ?? strings(extra?["access_key_ids"]),
                     addresses: evidences.compactMap { path($0, "src_endpoint", "ip")?.stringValue },
                     userAgents: strings(extra?["user_agents"]),
                     windowStart: path(extra ?? .null, "window", "start")?.stringValue, windowEnd: path(extra ?? .null, "window", "end")?.stringValue,
                     firstSeen: path(j, "finding_info", "first_seen_time")?.intValue, lastSeen: path(j, "finding_info", "last_seen_time")?.intValue,
                     detectedAt: j["time"]?.intValue, eventCount: j["count"]!.intValue!,
                     addressCount: path(extra ?? .null, "source_addresses", "count")!.intValue!,
                     ruleID: path(j, "finding_info", "analytic", "uid")?.stringValue,
                     issuer: path(j, "actor", "session", "issuer")?.stringValue,
                     sourceIdentity: path(extra ?? .null, "session", "source_identity")?.stringValue,
                     created: path(j, "actor", "session", "created_time")?.intValue, mfa: bool(path(j, "actor", "session", "is_mfa")),
                     // OCSF's remediation says it in words, ending in the command; the policy as a value is unmapped.
                     cli: path(j, "remediation", "desc")?.stringValue?.components(separatedBy: "AWS CLI: ").dropFirst().first,
                     policy: path(extra ?? .null, "response", "policy_document")?.stringValue,
                     noResponseReason: path(extra ?? .null, "response", "reason")?.stringValue)
    }

    /// The same facts read from the ECS document's fields, `tokentrail.*` only where ECS has none.
    static func ecsFacts(_ j: JSON) -> Facts {
        let extra = j["tokentrail"]
        return Facts(alertID: path(j, "event", "id")!.stringValue!, status: extra?["status"]?.stringValue ?? "",
                     revision: path(j, "event", "sequence")!.intValue!,
                     arn: path(j, "aws", "cloudtrail", "user_identity", "arn")!.stringValue!,
                     principalType: path(j, "aws", "cloudtrail", "user_identity", "type")!.stringValue!,
                     account: path(j, "cloud", "account", "id")?.stringValue,
                     accessKeyIds: strings(path(j, "aws", "cloudtrail", "user_identity", "access_key_id")),
                     addresses: strings(path(j, "source", "ip")), userAgents: strings(path(j, "user_agent", "original")),
                     windowStart: path(extra ?? .null, "window", "start")?.stringValue, windowEnd: path(extra ?? .null, "window", "end")?.stringValue,
                     firstSeen: millis(path(j, "event", "start")?.stringValue), lastSeen: millis(path(j, "event", "end")?.stringValue),
                     detectedAt: millis(j["@timestamp"]?.stringValue), eventCount: extra?["event_count"]?.intValue ?? -1,
                     addressCount: path(extra ?? .null, "source_addresses", "count")!.intValue!,
                     ruleID: path(j, "rule", "id")?.stringValue,
                     issuer: path(j, "aws", "cloudtrail", "user_identity", "session_context", "session_issuer", "arn")?.stringValue,
                     sourceIdentity: path(extra ?? .null, "session", "source_identity")?.stringValue,
                     created: millis(path(j, "aws", "cloudtrail", "user_identity", "session_context", "creation_date")?.stringValue),
                     mfa: path(j, "aws", "cloudtrail", "user_identity", "session_context", "mfa_authenticated")?.stringValue
                        .map { $0 == "true" },
                     cli: path(extra ?? .null, "response", "aws_cli")?.stringValue,
                     policy: path(extra ?? .null, "response", "policy_document")?.stringValue,
                     noResponseReason: path(extra ?? .null, "response", "reason")?.stringValue)
    }

    static var variants: [[Alert]] {
        [lifecycle(), lifecycle(enriched: false), lifecycle(keys: ["ASIAEXAMPLEKEY000001", "ASIAEXAMPLEKEY000002"]),
         lifecycle(normalization: .ipv6Prefix64), lifecycle(session: false)]
    }

    @Test func eachFormatCarriesTheNativeAlertsFacts() throws {
        for alerts in Self.variants {
            #expect(alerts.map(\.status) == [.open, .open, .final])
            for alert in alerts {
                let native = Self.nativeFacts(try Self.parse(alert.json()))
                #expect(native.cli != nil && native.policy != nil, "every variant's principal has a role to revoke at")
                #expect(Self.ocsfFacts(try Self.parse(AlertFormat.ocsf.encode(alert))) == native)
                #expect(Self.ecsFacts(try Self.parse(AlertFormat.ecs.encode(alert))) == native)
            }
        }
    }

    @Test func ocsfActivityFollowsTheLifecycle() throws {
        let records = try Self.lifecycle().map { try Self.parse(AlertFormat.ocsf.encode($0)) }
        #expect(records.map { $0["activity_id"]?.intValue } == [1, 2, 3])
        #expect(records.map { $0["type_uid"]?.intValue } == [200_401, 200_402, 200_403])
        #expect(records.map { $0["activity_name"]?.stringValue } == ["Create", "Update", "Close"])
        #expect(Set(records.compactMap { Self.path($0, "finding_info", "uid")?.stringValue }).count == 1)
    }

    @Test func ocsfEvidencePerAddressCarriesEnrichmentAndUserAgents() throws {
        let record = try Self.parse(AlertFormat.ocsf.encode(Self.lifecycle().last!))
        let evidences = try #require(record["evidences"]?.arrayValue)
        #expect(evidences.count == 3)
        let amsterdam = try #require(evidences.first { Self.path($0, "src_endpoint", "ip")?.stringValue == "203.0.113.77" })
        #expect(Self.path(amsterdam, "src_endpoint", "location", "city")?.stringValue == "Amsterdam")
        #expect(Self.path(amsterdam, "src_endpoint", "autonomous_system", "number")?.intValue == 64501)
        #expect(Self.strings(Self.path(amsterdam, "data", "user_agents")) == ["python-requests/2.31.0"])
        let attacks = try #require(Self.path(record, "finding_info", "attacks")?.arrayValue)
        #expect(Set(attacks.compactMap { Self.path($0, "sub_technique", "uid")?.stringValue }) == ["T1078.004"])
        #expect(attacks.compactMap { Self.path($0, "tactic", "uid")?.stringValue } == ["TA0001", "TA0005"])
        #expect(Self.path(record, "metadata", "product", "version")?.stringValue == Product.version)
        #expect(Self.path(record, "metadata", "version")?.stringValue == OCSFAlertEncoder.ocsfVersion)
    }

    @Test func recordsAreSortedAndStable() throws {
        for alert in Self.lifecycle() {
            for format in AlertFormat.allCases {
                #expect(keysSorted(try Self.parse(format.encode(alert))))
                #expect(format.encode(alert) == format.encode(alert))
            }
            #expect(AlertFormat.native.encode(alert) == alert.json())
        }
    }

    @Test(.enabled(if: AlertValidator.isEnabled, "needs .venv with ocsf-json-schema (scripts/bootstrap)"))
    func recordsValidateAgainstTheSchemas() throws {
        let alerts = Self.variants.flatMap { $0 }
        for format in [AlertFormat.ocsf, .ecs] {
            let result = try AlertValidator.validate(alerts.map(format.encode), format: format)
            #expect(result.status == 0, "\(format): \(result.output)")
            #expect(result.output.contains("\(alerts.count) records, \(alerts.count) valid"), "\(result.output)")
        }
    }

    /// The validator is the test's teeth: a field outside the schema, a wrong type and a value
    /// outside an enumeration each fail it.
    @Test(.enabled(if: AlertValidator.isEnabled, "needs .venv with ocsf-json-schema (scripts/bootstrap)"))
    func theValidatorRejectsWhatTheSchemasDoNotAllow() throws {
        let alert = Self.lifecycle().last!
        func mutate(_ format: AlertFormat, _ from: String, _ to: String) throws -> Int32 {
            let text = String(decoding: format.encode(alert), as: UTF8.self)
            #expect(text.contains(from), "\(from) not in \(text)")
            return try AlertValidator.validate([Array(text.replacingOccurrences(of: from, with: to).utf8)], format: format).status
        }
        #expect(try mutate(.ocsf, "\"is_alert\":true", "\"is_alert\":true,\"is_alarm\":true") == 1)
        #expect(try mutate(.ocsf, "\"count\":3", "\"count\":\"3\"") == 1)
        #expect(try mutate(.ocsf, "\"activity_id\":3", "\"activity_id\":7") == 1)
        #expect(try mutate(.ocsf, "\"type_uid\":200403", "\"type_uid\":200401") == 1)
        #expect(try mutate(.ecs, "\"kind\":\"alert\"", "\"kind\":\"finding\"") == 1)
        #expect(try mutate(.ecs, "\"sequence\":3", "\"sequence\":\"three\"") == 1)
        #expect(try mutate(.ecs, "\"ip\":[\"198.51.100.23\"", "\"ip\":[\"not-an-address\"") == 1)
        #expect(try mutate(.ecs, "\"rule\":{", "\"rule\":{\"surprise\":1,") == 1)
        #expect(try mutate(.ecs, "\"user_identity\":{", "\"user_identity\":{\"made_up\":\"x\",") == 1)
    }
}
