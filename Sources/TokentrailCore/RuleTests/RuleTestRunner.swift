public import CloudTrail
import Detection
import Enrichment
import Foundation
public import Logging

/// Runs rule test cases through the code path of `tokentrail scan`: the configuration loader, the
/// decoder, the rule (with its GeoIP enricher), the windows and the configured alert encoder.
/// Only the clock is fixed (`clock`), so `detected_at` (OCSF `time`, ECS `@timestamp`) is the same
/// on every run. The environment is not read: a case gives the same result in any shell.
public struct RuleTestRunner: Sendable {
    /// `detected_at` of every alert a test produces.
    public static let fixedClock = EventTime(millisecondsSinceEpoch: 0)

    /// Layers under each case's own `tokentrail.yaml` (the deployment's `--config`, if given).
    public var baseLayers: [ConfigLayer]
    public var clock: EventTime
    public var logger: Logger

    public init(baseLayers: [ConfigLayer] = [], clock: EventTime = Self.fixedClock, logger: Logger) {
        self.baseLayers = baseLayers
        self.clock = clock
        self.logger = logger
    }

    /// What one case produced and how it compares.
    public struct Report: Sendable {
        public var name: String
        public var expected: [RuleTestCase.Expectation]
        public var records: [JSONValue]
        /// "final, revision 1, key <grouping key>, window <start>/<end>" per record.
        public var labels: [String]
        /// "addresses <a>, <b>; <n> events" per record: what an unexpected alert is shown by.
        public var details: [String]
        public var matching: AlertMatching.Result
        public var ignoreExtraAlerts: Bool
        public var summary: ScanSummary
        /// Set when `case.yaml` names `filtered` counts that differ: (reason, expected, got).
        public var filteredDifferences: [(reason: String, expected: Int, got: Int)]
        public var warnings: [String]

        public var passed: Bool {
            matching.mismatched.isEmpty && matching.missing.isEmpty
                && (ignoreExtraAlerts || matching.unexpected.isEmpty) && filteredDifferences.isEmpty
        }

        /// One line, then for a failure the diff, indented.
        public func render(expectedFile: String) -> String {
            let kept = "\(summary.events) event\(summary.events == 1 ? "" : "s"), \(summary.matched) kept"
            let counts = "\(records.count) alert\(records.count == 1 ? "" : "s"), \(expected.count) expected; \(kept)"
            guard !passed else { return "ok   \(name) (\(counts))\n" }
            var lines = ["FAIL \(name) (\(counts))"]
            for (e, r, differences) in matching.mismatched {
                lines.append("  \(expectedFile):\(expected[e].line) differs from alert \(r + 1) (\(labels[r])):")
                for d in differences { lines.append("    \(d)") }
            }
            for e in matching.missing {
                lines.append("  \(expectedFile):\(expected[e].line) matches no alert: \(expected[e].value)")
            }
            if !ignoreExtraAlerts {
                for r in matching.unexpected {
                    lines.append("  unexpected alert \(r + 1) (\(labels[r])): \(details[r])")
                }
            }
            for f in filteredDifferences {
                lines.append("  filtered.\(f.reason): expected \(f.expected) events, got \(f.got)")
            }
            if !filteredDifferences.isEmpty || records.isEmpty || !matching.missing.isEmpty {
                let reasons = summary.rejected.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                lines.append("  the rule filtered: \(reasons.isEmpty ? "nothing" : reasons)")
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }

    public func run(_ testCase: RuleTestCase) throws(RuleTestProblem) -> Report {
        var layers = baseLayers
        if let own = testCase.configuration { layers.append(own) }
        let configFile = (testCase.directory as NSString).appendingPathComponent(RuleTestCase.configurationFile)
        let resolved: ResolvedConfiguration
        do throws(ConfigurationError) {
            resolved = try ConfigurationLoader.resolveWithSources(layers)
        } catch {
            throw RuleTestProblem(file: testCase.configuration == nil ? "--config" : configFile, problem: error.description)
        }
        let settings = resolved.settings
        let setup: DetectionSetup
        do throws(DetectionSetupError) {
            setup = try settings.makeDetection(logger: logger)
        } catch {
            switch error {
            case .enrichment(let e): throw RuleTestProblem(file: e.path, problem: "cannot be opened as a GeoIP database: \(e.reason)")
            case .exceptions(let e): throw RuleTestProblem(file: e.file, problem: "is not a usable exceptions file: \(e.detail)" + (e.allowed.map { " (allowed: \($0))" } ?? ""))
            }
        }
        var options = BatchScan.Options(detector: setup.detector)
        options.includeOpen = testCase.options.includeOpen
        options.clock = clock
        let scan = BatchScan(options: options, rule: setup.rule)
        var alerts: [Alert] = []
        let files: CloudTrailFiles
        do throws(FileInputError) {
            files = try CloudTrailFiles(paths: testCase.inputs.map { (testCase.directory as NSString).appendingPathComponent($0) })
        } catch {
            throw RuleTestProblem(file: error.path, problem: error.problem)
        }
        let prefix = testCase.directory.hasSuffix("/") ? testCase.directory : testCase.directory + "/"
        for file in files.files {
            let name = file.path.hasPrefix(prefix) ? String(file.path.dropFirst(prefix.count)) : file.path
            do {
                try scan.scan(file: file.path, name: name, alert: { alerts.append($0) })
            } catch {
                throw RuleTestProblem(file: file.path, problem: "cannot be read: \(error)")
            }
        }
        scan.finish { alerts.append($0) }
        let summary = scan.summary
        // A record that does not decode is a typo in a hand-written event: it would make a case
        // that expects no alert pass for the wrong reason.
        if let bad = summary.badSamples.first {
            throw RuleTestProblem(file: (testCase.directory as NSString).appendingPathComponent(bad.description),
                                  problem: "is not a CloudTrail event tokentrail can decode (\(summary.badRecords) bad record\(summary.badRecords == 1 ? "" : "s") in the case)")
        }
        let format = settings.outputFormat
        let records = alerts.map { JSONValue.parse(format.encode($0)) ?? .null }
        let labels = alerts.map { a in
            "\(a.status.rawValue), revision \(a.revision), key \(a.groupingKey), window \(RFC3339.format(a.window.start))/\(RFC3339.format(a.window.end))"
        }
        let details = alerts.map { a in
            "addresses \(a.sourceAddresses.values.joined(separator: ", ")); \(a.eventCount) event\(a.eventCount == 1 ? "" : "s")"
        }
        var filteredDifferences: [(reason: String, expected: Int, got: Int)] = []
        if let filtered = testCase.options.filtered {
            for reason in Set(filtered.keys).union(summary.rejected.keys).sorted() {
                let want = filtered[reason] ?? 0, got = summary.rejected[reason] ?? 0
                if want != got { filteredDifferences.append((reason, want, got)) }
            }
        }
        return Report(name: testCase.name, expected: testCase.expected, records: records, labels: labels, details: details,
                      matching: AlertMatching.match(expected: testCase.expected.map(\.value), records: records),
                      ignoreExtraAlerts: testCase.options.ignoreExtraAlerts, summary: summary,
                      filteredDifferences: filteredDifferences, warnings: resolved.warnings.map(\.description))
    }
}
