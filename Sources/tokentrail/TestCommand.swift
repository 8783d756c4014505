import ArgumentParser
import Foundation
import Logging
import TokentrailCore

/// `tokentrail test`: rule test cases (events, the alerts they must produce, the configuration
/// they run under) through the code path of `scan`, with a fixed clock.
struct RuleTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run rule test cases: CloudTrail events and the alerts they must produce, through scan's code path.",
        discussion: """
            Each case is a directory: the events (any file scan reads), expected.jsonl (the expected \
            alerts, one JSON object a line, each naming any subset of an alert's fields; empty: no \
            alert), optionally tokentrail.yaml (the keys the case changes, over the defaults and \
            --config) and case.yaml (description; extra_alerts: fail|ignore; include_open: true; \
            filtered: {reason: count}). DIR is a case, or a directory of cases. Every alert is \
            detected at 1970-01-01T00:00:00Z (a fixed clock) and the environment is not read. \
            One line per case, a field-by-field diff for each failure. Exit status: 0 all passed, \
            1 a case failed, 2 a case directory is not usable (the file and the problem are named).
            """)

    @Option(help: "The deployment's YAML configuration: every case runs under it, its own tokentrail.yaml on top.")
    var config: String?

    @Argument(help: "Case directories, or directories of cases.")
    var directories: [String]

    func run() throws {
        var base: [ConfigLayer] = []
        if let config {
            base.append(ConfigurationLoader.fileLayer(path: config))
            // The deployment's file on its own first, so that its problems are not blamed on a case.
            do throws(ConfigurationError) {
                _ = try ConfigurationLoader.resolveWithSources(base)
            } catch {
                printError("tokentrail: \(config): \(error)")
                throw ExitCode(2)
            }
        }
        var logger = Logger(label: "tokentrail", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .warning
        let runner = RuleTestRunner(baseLayers: base, logger: logger)
        var cases: [String] = []
        var bad = 0, failed = 0, passed = 0
        let out = FileHandle.standardOutput
        for directory in directories {
            do throws(RuleTestProblem) {
                cases += try RuleTestCase.discover(directory)
            } catch {
                out.write(Data("ERROR \(error)\n".utf8))
                bad += 1
            }
        }
        var warned = Set<String>()
        for directory in cases {
            let name = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
            do throws(RuleTestProblem) {
                let testCase = try RuleTestCase.load(directory: directory, name: name)
                let report = try runner.run(testCase)
                for w in report.warnings where warned.insert(w).inserted { printError("tokentrail: warning: \(w)") }
                out.write(Data(report.render(expectedFile: (directory as NSString).appendingPathComponent(RuleTestCase.expectedFile)).utf8))
                if report.passed { passed += 1 } else { failed += 1 }
            } catch {
                out.write(Data("ERROR \(name): \(error)\n".utf8))
                bad += 1
            }
        }
        out.write(Data("\(passed + failed + bad) case\(passed + failed + bad == 1 ? "" : "s"): \(passed) passed, \(failed) failed\(bad > 0 ? ", \(bad) not usable" : "")\n".utf8))
        if bad > 0 { throw ExitCode(2) }
        if failed > 0 { throw ExitCode(1) }
    }
}
