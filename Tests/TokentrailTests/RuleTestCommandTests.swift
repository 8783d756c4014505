import Foundation
import KafkaTestSupport
import Testing
import TokentrailCore

/// The shipped rule test cases (rules/tests) and `tokentrail test` as a detection engineer runs it.
@Suite(.ownThreads) struct RuleTestCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let cases = root.appendingPathComponent("rules/tests").path

    /// A copy of one shipped case in a fresh directory, to change.
    static func copy(_ name: String) throws -> (root: String, dir: String) {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("tt-rule-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let dir = "\(tmp)/\(name)"
        try FileManager.default.copyItem(atPath: "\(cases)/\(name)", toPath: dir)
        return (tmp, dir)
    }

    static func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    @Test func shippedCasesPass() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.cases).filter { !$0.hasPrefix(".") }.sorted()
        #expect(names.count >= 9)
        let (status, out, err) = try Tokentrail.run(["test", Self.cases])
        #expect(status == 0, "\(out)\n\(err)")
        for name in names { #expect(out.contains("ok   \(Self.cases)/\(name) ("), "\(name): \(out)") }
        #expect(out.contains("\(names.count) cases: \(names.count) passed, 0 failed"), "\(out)")
    }

    /// The issue's acceptance test: one expected field changed makes the command exit 1 with a diff
    /// that names the field, the expected value and the alert's.
    @Test func changingOneExpectedFieldFailsWithADiffNamingIt() throws {
        let (tmp, dir) = try Self.copy("seed-true-positive")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let expected = try Self.read("\(dir)/expected.jsonl")
        #expect(expected.contains("\"event_count\":4"))
        try Self.write(expected.replacingOccurrences(of: "\"event_count\":4", with: "\"event_count\":5"), to: "\(dir)/expected.jsonl")
        let (status, out, err) = try Tokentrail.run(["test", dir])
        #expect(status == 1, "\(out)\n\(err)")
        #expect(out.contains("FAIL \(dir) (1 alert, 1 expected"), "\(out)")
        #expect(out.contains("\(dir)/expected.jsonl:1 differs from alert 1 (final, revision 1, key arn:aws:sts::123456789012:assumed-role/DeployRole/deploy-session, window 2026-03-02T08:00:00Z/2026-03-02T08:30:00Z):"), "\(out)")
        #expect(out.contains("    event_count: expected 5, got 4"), "\(out)")
        // Only the changed field is reported.
        #expect(out.split(separator: "\n").filter { $0.hasPrefix("    ") }.count == 1, "\(out)")
        #expect(out.contains("1 case: 0 passed, 1 failed"))

        // A nested field is named by its dotted path; an array is shown whole.
        try Self.write(expected.replacingOccurrences(of: "\"198.51.100.23\",\"203.0.113.77\"", with: "\"198.51.100.23\""),
                       to: "\(dir)/expected.jsonl")
        let (s2, out2, _) = try Tokentrail.run(["test", dir])
        #expect(s2 == 1)
        #expect(out2.contains("    source_addresses.values: expected [\"198.51.100.23\"], got [\"198.51.100.23\",\"203.0.113.77\"]"), "\(out2)")
    }

    /// An alert no line expects fails the case, unless `case.yaml` says `extra_alerts: ignore`;
    /// an expected alert that never comes is named as missing, with what the rule filtered.
    @Test func unexpectedAndMissingAlerts() throws {
        let (tmp, dir) = try Self.copy("seed-true-positive")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let expected = try Self.read("\(dir)/expected.jsonl")
        try Self.write("", to: "\(dir)/expected.jsonl")
        let (status, out, _) = try Tokentrail.run(["test", dir])
        #expect(status == 1)
        #expect(out.contains("  unexpected alert 1 (final, revision 1, key arn:aws:sts::123456789012:assumed-role/DeployRole/deploy-session"), "\(out)")
        try Self.write("extra_alerts: ignore\n", to: "\(dir)/case.yaml")
        let (s2, out2, _) = try Tokentrail.run(["test", dir])
        #expect(s2 == 0, "\(out2)")

        // The case's own configuration: at threshold 3 the window no longer alerts.
        try Self.write(expected, to: "\(dir)/expected.jsonl")
        try Self.write("rule:\n  threshold: 3\n", to: "\(dir)/tokentrail.yaml")
        let (s3, out3, _) = try Tokentrail.run(["test", dir])
        #expect(s3 == 1)
        #expect(out3.contains("\(dir)/expected.jsonl:1 matches no alert: {"), "\(out3)")
        #expect(out3.contains("  the rule filtered: nothing"), "\(out3)")
    }

    /// The tuning loop: a change to the deployment's configuration (`--config`) that would
    /// silence a true positive fails the case; the case's own file still applies on top.
    @Test func deploymentConfigurationUnderEveryCase() throws {
        let allow = try writeTemporary("rule:\n  allowed_networks: [198.51.100.0/24]\n")
        let (status, out, _) = try Tokentrail.run(["test", "--config", allow, Self.cases])
        #expect(status == 1)
        #expect(out.contains("FAIL \(Self.cases)/seed-true-positive"), "\(out)")
        #expect(out.contains("FAIL \(Self.cases)/elastic-2026-true-positive"), "\(out)")
        #expect(out.contains("ok   \(Self.cases)/excluded-akia-long-term-key"), "\(out)")
        // `filtered` in case.yaml names the count the change moved.
        #expect(out.contains("  filtered.allowlisted_address: expected 0 events, got 2"), "\(out)")

        let harmless = try writeTemporary("rule:\n  allowed_networks: [10.0.0.0/8]\n")
        let (s2, out2, _) = try Tokentrail.run(["test", "--config", harmless, Self.cases])
        #expect(s2 == 0, "\(out2)")

        // A problem in the deployment's file is its own, before any case runs.
        let bad = try writeTemporary("rule:\n  threshold: zero\n")
        let (s3, out3, err3) = try Tokentrail.run(["test", "--config", bad, Self.cases])
        #expect(s3 == 2)
        #expect(out3.isEmpty)
        #expect(err3.contains("tokentrail: \(bad): invalid configuration") && err3.contains("rule.threshold"), "\(err3)")
    }

    /// The clock is fixed, so `detected_at` can be expected; the configured format is compared.
    @Test func fixedClockAndOutputFormat() throws {
        let (tmp, dir) = try Self.copy("seed-true-positive")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try Self.write("{\"detected_at\":\"1970-01-01T00:00:00Z\",\"status\":\"final\"}\n", to: "\(dir)/expected.jsonl")
        let (s1, out1, _) = try Tokentrail.run(["test", dir])
        #expect(s1 == 0, "\(out1)")
        try Self.write("output:\n  format: ocsf\n", to: "\(dir)/tokentrail.yaml")
        try Self.write("{\"class_uid\":2004,\"time\":0,\"activity_id\":3,\"finding_info\":{\"title\":\"AWS STS Temporary IAM Session Token Used from Multiple Addresses\"}}\n",
                       to: "\(dir)/expected.jsonl")
        let (s2, out2, _) = try Tokentrail.run(["test", dir])
        #expect(s2 == 0, "\(out2)")

        // `include_open`: the open revision when the second address came (3 events), then the final one.
        try FileManager.default.removeItem(atPath: "\(dir)/tokentrail.yaml")
        try Self.write("include_open: true\n", to: "\(dir)/case.yaml")
        try Self.write("{\"status\":\"open\",\"revision\":1,\"event_count\":3}\n{\"status\":\"final\",\"revision\":2,\"event_count\":4}\n",
                       to: "\(dir)/expected.jsonl")
        let (s3, out3, _) = try Tokentrail.run(["test", dir])
        #expect(s3 == 0, "\(out3)")
        try Self.write("include_open: false\n", to: "\(dir)/case.yaml")
        let (s4, out4, _) = try Tokentrail.run(["test", dir])
        #expect(s4 == 1, "\(out4)")
        #expect(out4.contains("expected.jsonl:1 matches no alert"), "\(out4)")
        #expect(out4.contains("expected.jsonl:2 differs from alert 1") && out4.contains("    revision: expected 2, got 1"), "\(out4)")
    }

    /// A case that cannot be run exits 2 naming the file and the problem; the others still run.
    @Test func unusableCaseDirectoriesExitTwo() throws {
        let (tmp, dir) = try Self.copy("seed-true-positive")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let events = try Self.read("\(dir)/events.json")
        func expectUnusable(_ needle: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let (status, out, err) = try Tokentrail.run(["test", tmp])
            #expect(status == 2, "\(out)\n\(err)", sourceLocation: sourceLocation)
            #expect(out.contains("ERROR \(dir): \(needle)"), "\(out)", sourceLocation: sourceLocation)
            #expect(out.contains("0 passed, 0 failed, 1 not usable"), "\(out)", sourceLocation: sourceLocation)
        }
        try Self.write("{\"status\": \"final\"\nnot json\n", to: "\(dir)/expected.jsonl")
        try expectUnusable("\(dir)/expected.jsonl:1: is not a JSON object")
        try FileManager.default.removeItem(atPath: "\(dir)/expected.jsonl")
        try expectUnusable("\(dir)/expected.jsonl: is missing")
        try Self.write("", to: "\(dir)/expected.jsonl")
        try Self.write("rule:\n  treshold: 3\n", to: "\(dir)/tokentrail.yaml")
        try expectUnusable("\(dir)/tokentrail.yaml: invalid configuration")
        let (_, out, _) = try Tokentrail.run(["test", tmp])
        #expect(out.contains("rule.treshold is not a configuration key (did you mean rule.threshold?)"), "\(out)")
        try FileManager.default.removeItem(atPath: "\(dir)/tokentrail.yaml")
        try Self.write("extra_alerts: sometimes\n", to: "\(dir)/case.yaml")
        try expectUnusable("\(dir)/case.yaml: extra_alerts is 'sometimes' (allowed: fail, ignore)")
        try Self.write("filtered: {access_key: 1}\n", to: "\(dir)/case.yaml")
        try expectUnusable("\(dir)/case.yaml: filtered.access_key is not a filter reason")
        try FileManager.default.removeItem(atPath: "\(dir)/case.yaml")
        // A hand-written event with a typo would make a no-alert case pass for the wrong reason.
        try Self.write(events + "{\"eventTime\": \n", to: "\(dir)/events.json")
        try expectUnusable("\(dir)/events.json:2: not_json")
        try FileManager.default.removeItem(atPath: "\(dir)/events.json")
        try expectUnusable("\(dir): has no input")
        let (s, out2, _) = try Tokentrail.run(["test", "/nonexistent/rules"])
        #expect(s == 2)
        #expect(out2.contains("ERROR /nonexistent/rules: is not a directory"), "\(out2)")
    }
}

/// How expected lines pair with produced records.
@Suite struct AlertMatchingTests {
    func json(_ text: String) -> JSONValue { JSONValue.parse(Array(text.utf8))! }

    @Test func subsetsMatchAndEachRecordSatisfiesOneLine() {
        let records = [json(#"{"k":"a","n":2,"o":{"x":1,"y":[1,2]}}"#), json(#"{"k":"a","n":3,"o":{"x":1,"y":[]}}"#)]
        // The first line could take either record; the second only the first: both must match.
        let r = AlertMatching.match(expected: [json(#"{"k":"a"}"#), json(#"{"n":2.0,"o":{"y":[1,2]}}"#)], records: records)
        #expect(r.matched.map { [$0.expected, $0.record] } == [[0, 1], [1, 0]])
        #expect(r.mismatched.isEmpty && r.missing.isEmpty && r.unexpected.isEmpty)
        // Two identical lines need two records.
        let twice = AlertMatching.match(expected: [json(#"{"k":"a","n":2}"#), json(#"{"k":"a","n":2}"#)], records: records)
        #expect(twice.matched.map { [$0.expected, $0.record] } == [[0, 0]])
        #expect(twice.mismatched.map { [$0.expected, $0.record] } == [[1, 1]])
        #expect(twice.mismatched.flatMap { $0.differences.map(\.description) } == ["n: expected 2, got 3"])
    }

    @Test func differencesNameNestedFieldsAndAbsentOnes() {
        let d = AlertMatching.differences(expected: json(#"{"o":{"x":2,"z":true},"k":"a"}"#), actual: json(#"{"k":"a","o":{"x":1}}"#))
        #expect(d.map(\.description) == ["o.x: expected 2, got 1", "o.z: expected true, got (absent)"])
        // A boolean is not a number, an array is compared whole.
        #expect(!AlertMatching.differences(expected: json(#"{"b":1}"#), actual: json(#"{"b":true}"#)).isEmpty)
        #expect(!AlertMatching.differences(expected: json(#"{"a":[1]}"#), actual: json(#"{"a":[1,2]}"#)).isEmpty)
    }

    @Test func aLineAgreeingOnNothingIsMissing() {
        let r = AlertMatching.match(expected: [json(#"{"k":"b"}"#)], records: [json(#"{"k":"a"}"#)])
        #expect(r.missing == [0])
        #expect(r.unexpected == [0])
    }
}
