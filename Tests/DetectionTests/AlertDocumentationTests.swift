import CloudTrail
import Foundation
import Testing

@testable import Detection

@Suite("docs/alerts.md")
struct AlertDocumentationTests {
    static func exampleAlert() -> Alert {
        let rule = DetectionRule()
        var h = Harness()
        let events = [
            makeEvent(time: baseTime + 4 * minute + 12_000, address: ipv4("10.20.30.40"), eventName: "GetCallerIdentity",
                      eventID: "0b6e7f9a-2f4c-4d67-9a55-8f1e3c2b7a10", issuer: "arn:aws:iam::123456789012:role/deploy",
                      created: "2026-03-02T07:58:41Z", mfa: false),
            makeEvent(time: baseTime + 17 * minute + 3_000, address: ipv4("203.0.113.77"),
                      userAgent: "python-requests/2.31.0", eventSource: "secretsmanager.amazonaws.com",
                      eventName: "GetSecretValue", eventID: "7c1d2e3f-4a5b-4c6d-8e9f-a0b1c2d3e4f5",
                      issuer: "arn:aws:iam::123456789012:role/deploy", created: "2026-03-02T07:58:41Z", mfa: false),
        ]
        for (i, event) in events.enumerated() {
            let origin = EventOrigin(topic: "cloudtrail", partition: 2, offset: 81_920 + Int64(i) * 37)
            h.process(try! rule.evaluate(event, origin: origin).get(), partition: 1, offset: 5_000 + Int64(i),
                      now: at(baseTime + 40 * minute))
        }
        h.advance(partition: 1, to: at(baseTime + 30 * minute), now: at(baseTime + 40 * minute))
        return h.finals[0]
    }

    @Test func theDocumentedExampleIsWhatTheEncoderWrites() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/alerts.md"), encoding: .utf8)
        let example = try #require(text.components(separatedBy: "\n## Example\n").last)
        let block = try #require(example.components(separatedBy: "```json\n").dropFirst().first?.components(separatedBy: "\n```").first)
        let actual = try JSONParser.parse(Self.exampleAlert().json())
        let documented = try? JSONParser.parse(Array(block.utf8))
        #expect(documented == actual, "docs/alerts.md example drifted; the encoder writes:\n\(Self.exampleAlert().jsonString)")
        #expect(alertSchema.validate(actual).isEmpty)
    }
}

/// docs/alerts.md, "Formats": each format's record for `open` revision 1, `open` revision 2 and
/// `final` of one window (`AlertFormatTests.lifecycle`), each after a `<!-- example: FORMAT N -->` line.
@Suite("docs/alerts.md format examples")
struct AlertFormatDocumentationTests {
    static func documented(_ format: AlertFormat, _ index: Int) throws -> String? {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/alerts.md"), encoding: .utf8)
        let marker = "<!-- example: \(format.rawValue) \(index) -->\n"
        guard text.contains(marker) else { return nil }
        return text.components(separatedBy: marker)[1].components(separatedBy: "```json\n").dropFirst().first?
            .components(separatedBy: "\n```").first
    }

    @Test(arguments: AlertFormat.allCases)
    func theDocumentedRecordsAreWhatTheEncoderWrites(format: AlertFormat) throws {
        let alerts = AlertFormatTests.lifecycle()
        #expect(alerts.map(\.status) == [.open, .open, .final])
        var records: [[UInt8]] = []
        for (i, alert) in alerts.enumerated() {
            let actual = format.encode(alert)
            let block = try Self.documented(format, i + 1)
            #expect(block != nil, "docs/alerts.md lacks <!-- example: \(format.rawValue) \(i + 1) -->")
            let documented = try block.map { try JSONParser.parse(Array($0.utf8)) }
            #expect(documented == (try JSONParser.parse(actual)),
                    "docs/alerts.md \(format.rawValue) example \(i + 1) drifted; the encoder writes:\n\(String(decoding: actual, as: UTF8.self))")
            if let block { records.append(Array(block.utf8.filter { $0 != 0x0A })) }
        }
        if format == .native {
            for record in records { #expect(alertSchema.validate(try JSONParser.parse(record)).isEmpty) }
        } else if AlertValidator.isEnabled {
            let result = try AlertValidator.validate(records, format: format)
            #expect(result.status == 0, "\(result.output)")
        }
    }
}

@Suite("The schema validator catches what it must")
struct SchemaValidatorTests {
    func mutated(_ change: (inout [(String, JSON)]) -> Void) throws -> [String] {
        guard case .object(var members) = try JSONParser.parse(AlertDocumentationTests.exampleAlert().json()) else {
            Issue.record("not an object")
            return []
        }
        change(&members)
        return alertSchema.validate(.object(members))
    }

    func set(_ key: String, _ value: JSON) -> (inout [(String, JSON)]) -> Void {
        { members in members = members.map { $0.0 == key ? (key, value) : $0 } }
    }

    @Test func rejectsBrokenAlerts() throws {
        #expect(try mutated { _ in }.isEmpty)
        #expect(try !mutated { $0.removeAll { $0.0 == "alert_id" } }.isEmpty)
        #expect(try !mutated { $0.append(("surprise", .null)) }.isEmpty)
        #expect(try !mutated(set("status", .string("closed"))).isEmpty)
        #expect(try !mutated(set("revision", .number(0, isInteger: true))).isEmpty)
        #expect(try !mutated(set("revision", .string("1"))).isEmpty)
        #expect(try !mutated(set("alert_id", .string("XYZ"))).isEmpty)
        #expect(try !mutated(set("detected_at", .string("2026-03-02 08:00:00"))).isEmpty)
        #expect(try !mutated(set("user_agents", .array([.string("a"), .string("a")]))).isEmpty)
        #expect(try !mutated(set("schema_version", .number(2, isInteger: true))).isEmpty)
        #expect(try !mutated(set("window", .object([("start", .string("2026-03-02T08:00:00Z"))]))).isEmpty)
        #expect(try !mutated(set("session", .object([("mfa_authenticated", .string("false"))]))).isEmpty)
        #expect(try !mutated(set("response", .object([]))).isEmpty, "neither a policy nor a reason")
        #expect(try !mutated(set("response", .object([("reason", .string("x")), ("aws_cli", .string("aws iam put-role-policy x"))]))).isEmpty)
    }

    @Test func parserRejectsInvalidJSON() {
        for bad in ["{", "[1,]", "{\"a\":1,}", "01", "\"\u{01}\"", "nul", "{\"a\" 1}", "[1] 2"] {
            #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(bad.utf8)) }
        }
    }
}
