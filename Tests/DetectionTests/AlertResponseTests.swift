import CloudTrail
import Foundation
import Testing

@testable import Detection

@Suite("The response in the alert")
struct AlertResponseTests {
    static let detected = RFC3339.parse("2026-03-02T08:40:00Z")!
    static let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],"#
        + #""Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-03-02T08:40:00Z"}}}]}"#

    /// A final alert of one window (two addresses) with these identity facts, detected at `detected`.
    static func alert(arn: String = "arn:aws:sts::123456789012:assumed-role/deploy/alice", type: String = "AssumedRole",
                      issuer: String? = nil, detectedAt: EventTime = detected) -> Alert {
        var h = Harness()
        var configuration = RuleConfiguration.seed
        configuration.identityTypes.insert(type)  // Root is not among the rule's types by default
        for (i, address) in ["198.51.100.23", "203.0.113.77"].enumerated() {
            let event = makeEvent(time: baseTime + Int64(i) * minute, address: ipv4(address), arn: arn, type: type,
                                  issuer: issuer)
            h.process(observe(event, rule: DetectionRule(configuration)), offset: Int64(i), now: detectedAt)
        }
        h.advance(to: at(baseTime + 30 * minute), now: detectedAt)
        return h.finals[0]
    }

    @Test func aRoleWithAPathIsNamedWithoutIt() {
        let response = Self.alert(issuer: "arn:aws:iam::123456789012:role/service/ops/deploy").response
        #expect(response.target == AlertResponse.Target(
            kind: .role, name: "deploy", arn: "arn:aws:iam::123456789012:role/service/ops/deploy", accountId: "123456789012"))
        #expect(response.policyDocument == Self.policy)
        #expect(response.awsCLI == "aws iam put-role-policy --role-name deploy --policy-name AWSRevokeOlderSessions "
            + "--policy-document '\(Self.policy)'")
        #expect(response.reason == nil)
    }

    @Test func getSessionTokenCredentialsRevokeAtTheUser() {
        let response = Self.alert(arn: "arn:aws:iam::123456789012:user/dev/bob", type: "IAMUser").response
        #expect(response.target?.kind == .user && response.target?.name == "bob")
        #expect(response.awsCLI == "aws iam put-user-policy --user-name bob --policy-name AWSRevokeOlderSessions "
            + "--policy-document '\(Self.policy)'")
    }

    /// Without the issuer (events from a source that drops `sessionContext`, a replayed version 2
    /// record), the role is still named in the assumed-role ARN; its path and ARN are not known.
    @Test func anAssumedRoleWithoutIssuerIsNamedFromItsArn() {
        let response = Self.alert().response
        #expect(response.target == AlertResponse.Target(kind: .role, name: "deploy", arn: nil, accountId: "123456789012"))
        #expect(response.awsCLI?.hasPrefix("aws iam put-role-policy --role-name deploy ") == true)
    }

    @Test func aFederatedSessionRevokesAtItsIssuingUser() throws {
        let response = AlertResponse.target(
            principalType: "FederatedUser", principalArn: "arn:aws:sts::123456789012:federated-user/carol",
            issuerArn: "arn:aws:iam::123456789012:user/carol-broker")
        #expect(try response.get() == AlertResponse.Target(
            kind: .user, name: "carol-broker", arn: "arn:aws:iam::123456789012:user/carol-broker", accountId: "123456789012"))
    }

    @Test func noPolicyWhereNoneCanWork() {
        func reason(_ type: String, _ arn: String, _ issuer: String?) -> AlertResponse.NoTarget? {
            if case .failure(let why) = AlertResponse.target(principalType: type, principalArn: arn, issuerArn: issuer) { return why }
            return nil
        }
        #expect(reason("Root", "arn:aws:iam::123456789012:root", nil) == .root)
        #expect(reason("AssumedRole", "arn:aws:sts::123456789012:assumed-role/x/y", "arn:aws:iam::123456789012:root") == .root)
        let linked = "arn:aws:iam::123456789012:role/aws-service-role/support.amazonaws.com/AWSServiceRoleForSupport"
        #expect(reason("AssumedRole", "arn:aws:sts::123456789012:assumed-role/AWSServiceRoleForSupport/s", linked)
            == .serviceLinkedRole(linked))
        let sso = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_4b1c2f9e3a7d8e61"
        #expect(reason("AssumedRole", "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_4b1c2f9e3a7d8e61/alice", sso)
            == .identityCenterRole("AWSReservedSSO_Admin_4b1c2f9e3a7d8e61"))
        #expect(reason("AssumedRole", "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_4b1c2f9e3a7d8e61/alice", nil)
            == .identityCenterRole("AWSReservedSSO_Admin_4b1c2f9e3a7d8e61"))
        #expect(reason("WebIdentityUser", "arn:aws:sts::123456789012:assumed-role/web/s0", "") == .noIssuer("WebIdentityUser"))
        #expect(reason("FederatedUser", "arn:aws:sts::123456789012:federated-user/carol", nil) == .noIssuer("FederatedUser"))
        // A name IAM could not have made (an ARN cut at `ValueCut.maxBytes`, or forged): no command.
        let cut = "arn:aws:iam::123456789012:role/" + String(repeating: "r", count: 70)
        #expect(reason("AssumedRole", "arn:aws:sts::123456789012:assumed-role/r/s", cut) == .invalidName(cut))
        #expect(reason("AssumedRole", "arn:aws:sts::123456789012:assumed-role/a;rm -rf ~/s", nil)
            == .invalidName("arn:aws:sts::123456789012:assumed-role/a;rm -rf ~/s"))

        let root = Self.alert(arn: "arn:aws:iam::123456789012:root", type: "Root").response
        #expect(root.target == nil && root.awsCLI == nil && root.policyDocument == nil)
        #expect(root.reason?.contains("root") == true)
        let json = try! JSONParser.parse(Self.alert(arn: "arn:aws:iam::123456789012:root", type: "Root").json())
        #expect(json["response"]?["reason"]?.stringValue == root.reason)
        #expect(json["response"]?["aws_cli"] == nil)
    }

    /// What the quoting makes is one word to a real POSIX shell, whatever the text.
    @Test(arguments: ["deploy", "", "it's", "a b", "$(touch /tmp/x)", "`id`", "back\\slash", "new\nline", "\"q\"", "'", "''x'", "*", "é漢🔑"])
    func shellQuotingGivesTheTextBackAsOneWord(_ text: String) throws {
        let quoted = AlertResponse.shellQuoted(text)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "printf '%s|' \(quoted)"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(String(decoding: data, as: UTF8.self) == text + "|", "\(quoted)")
    }

    @Test func thePolicyIsTheConsolesDenyWithTheDetectionTime() throws {
        let response = Self.alert(issuer: "arn:aws:iam::123456789012:role/deploy").response
        let document = try JSONSerialization.jsonObject(with: Data(try #require(response.policyDocument).utf8)) as! [String: Any]
        #expect(document["Version"] as? String == "2012-10-17")
        let statement = try #require((document["Statement"] as? [[String: Any]])?.first)
        #expect(statement["Effect"] as? String == "Deny")
        #expect(statement["Action"] as? [String] == ["*"] && statement["Resource"] as? [String] == ["*"])
        let condition = statement["Condition"] as? [String: [String: String]]
        #expect(condition?["DateLessThan"]?["aws:TokenIssueTime"] == "2026-03-02T08:40:00Z")
        #expect(response.revokeIssuedBefore == Self.detected)
    }

    /// The response's time is `detected_at`: two emissions of one window at different wall-clock
    /// times differ in those two places and nowhere else.
    @Test func theResponseDiffersBetweenRepeatsOnlyAsDetectedAtDoes() throws {
        let issuer = "arn:aws:iam::123456789012:role/deploy"
        let first = Self.alert(issuer: issuer)
        let later = Self.alert(issuer: issuer, detectedAt: at(Self.detected.millisecondsSinceEpoch + 3_600_000))
        #expect(first.response.policyDocument != later.response.policyDocument)
        let a = String(decoding: first.json(), as: UTF8.self)
            .replacingOccurrences(of: "2026-03-02T08:40:00Z", with: "T")
        let b = String(decoding: later.json(), as: UTF8.self)
            .replacingOccurrences(of: "2026-03-02T09:40:00Z", with: "T")
        #expect(a == b)
    }
}

@Suite("The session context of a window")
struct SessionEvidenceTests {
    static let events: [CloudTrailEvent] = [
        makeEvent(time: baseTime + 1 * minute, address: ipv4("198.51.100.23"), accessKeyId: "ASIAEXAMPLEKEY000002",
                  issuer: "arn:aws:iam::123456789012:role/deploy", created: "2026-03-02T07:30:00Z", mfa: true),
        makeEvent(time: baseTime + 2 * minute, address: ipv4("203.0.113.77"),
                  issuer: "arn:aws:iam::123456789012:role/deploy", created: "2026-03-02T06:55:10Z", mfa: false,
                  sourceIdentity: "alice"),
        makeEvent(time: baseTime + 3 * minute, address: ipv4("192.0.2.9"), created: "not a time"),
    ]

    static func finalAlert(_ events: [CloudTrailEvent], threshold: Int = 2) -> Alert {
        var configuration = DetectorConfiguration()
        configuration.rule.threshold = threshold
        var h = Harness(configuration)
        for (i, event) in events.enumerated() { h.process(observe(event), offset: Int64(i), now: at(baseTime)) }
        h.advance(to: at(baseTime + 30 * minute), now: at(baseTime + 31 * minute))
        return h.finals[0]
    }

    /// One value per fact whatever the order: the earliest creation time, MFA false when any event
    /// says false, the issuer and source identity where any event has them. The first event is
    /// held compactly until the second arrives (threshold 2): what it said must not be lost.
    @Test func factsAreCombinedIndependentlyOfOrder() {
        let expected = SessionFacts(
            issuerArn: "arn:aws:iam::123456789012:role/deploy", createdAt: RFC3339.parse("2026-03-02T06:55:10Z"),
            mfaAuthenticated: false, sourceIdentity: "alice")
        for order in [[0, 1, 2], [2, 1, 0], [1, 0, 2], [1, 2, 0], [2, 0, 1], [0, 2, 1]] {
            for threshold in [1, 2] {
                let alert = Self.finalAlert(order.map { Self.events[$0] }, threshold: threshold)
                #expect(alert.session == expected, "\(order) threshold \(threshold)")
            }
        }
    }

    @Test func mfaIsTrueOnlyWhenEveryEventThatSaidSoSaidTrue() {
        let trueOnly = [Self.events[0], Self.events[2]]  // the third says nothing about MFA
        #expect(Self.finalAlert(trueOnly).session.mfaAuthenticated == true)
        let none = [makeEvent(time: baseTime, address: ipv4("198.51.100.1")), makeEvent(time: baseTime + 1, address: ipv4("198.51.100.2"))]
        let alert = Self.finalAlert(none)
        #expect(alert.session == SessionFacts())
        // Nothing known: the native `session` object is empty, not absent.
        let json = try! JSONParser.parse(alert.json())
        #expect(json["session"] == .object([]))
    }

    @Test func theNativeRecordNamesEveryFact() throws {
        let json = try JSONParser.parse(Self.finalAlert(Self.events).json())
        let session = try #require(json["session"])
        #expect(session["issuer_arn"]?.stringValue == "arn:aws:iam::123456789012:role/deploy")
        #expect(session["created_at"]?.stringValue == "2026-03-02T06:55:10Z")
        #expect(session["mfa_authenticated"] == .bool(false))
        #expect(session["source_identity"]?.stringValue == "alice")
        #expect(json["response"]?["target"]?["name"]?.stringValue == "deploy")
        #expect(json["response"]?["revoke_issued_before"]?.stringValue == json["detected_at"]?.stringValue)
    }
}

@Suite("The response in every format")
struct AlertResponseFormatTests {
    /// Each format says the same session facts and response as the native record (`AlertFormatTests`'
    /// mapping back), with a policy and, for root, with the reason there is none.
    @Test func eachFormatCarriesTheSameResponse() throws {
        let role = AlertResponseTests.alert(issuer: "arn:aws:iam::123456789012:role/service/deploy")
        let root = AlertResponseTests.alert(arn: "arn:aws:iam::123456789012:root", type: "Root")
        for alert in [role, root] {
            let native = AlertFormatTests.nativeFacts(try JSONParser.parse(alert.json()))
            #expect(native.cli == alert.response.awsCLI && native.noResponseReason == alert.response.reason)
            #expect(AlertFormatTests.ocsfFacts(try JSONParser.parse(AlertFormat.ocsf.encode(alert))) == native)
            #expect(AlertFormatTests.ecsFacts(try JSONParser.parse(AlertFormat.ecs.encode(alert))) == native)
        }
        let ocsf = try JSONParser.parse(AlertFormat.ocsf.encode(root))
        #expect(AlertFormatTests.path(ocsf, "remediation", "desc")?.stringValue?.contains("root") == true)
    }
}
