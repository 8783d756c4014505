import Detection
import Foundation
import Yams

/// One rule test: a directory holding CloudTrail events, the alerts they must produce and,
/// optionally, the configuration they run under (README.md, "Tuning the rule").
///
///     <case>/expected.jsonl    the expected alerts, one JSON object a line, each any subset of a
///                              record's fields (AlertMatching); empty: no alert. Blank lines and
///                              lines starting with `#` are ignored.
///     <case>/tokentrail.yaml   optional: the keys this case changes, over the defaults and `--config`
///     <case>/case.yaml         optional: description, extra_alerts, include_open, filtered
///     <case>/*.md              ignored (notes on the case)
///     <case>/anything else     input, read as `tokentrail scan` reads it (files whatever their
///                              name, directories walked)
public struct RuleTestCase: Sendable {
    public struct Expectation: Sendable {
        /// 1-based line of `expected.jsonl`.
        public var line: Int
        public var value: JSONValue
    }

    /// What `case.yaml` may say.
    public struct Options: Sendable, Hashable {
        public var description: String?
        /// Records no expected line accounts for fail the case unless this is true (`extra_alerts: ignore`).
        public var ignoreExtraAlerts = false
        /// Also produce `open` revisions, as `scan --include-open` does.
        public var includeOpen = false
        /// Events the rule must have filtered, by reason (`RejectReason` labels); nil: not checked.
        /// Reasons not listed must be zero.
        public var filtered: [String: Int]?

        public init() {}
    }

    public var name: String
    public var directory: String
    /// Input paths, relative to `directory`, sorted.
    public var inputs: [String]
    public var expected: [Expectation]
    /// The case's own `tokentrail.yaml`, relative GeoIP and exceptions paths made relative to the case directory.
    public var configuration: ConfigLayer?
    public var options: Options

    public static let expectedFile = "expected.jsonl"
    public static let configurationFile = "tokentrail.yaml"
    public static let optionsFile = "case.yaml"

    /// Keys naming files that a case's `tokentrail.yaml` may give relative to the case directory.
    static let relativePathKeys: Set<String> = ["enrichment.city_database", "enrichment.asn_database", "rule.exceptions_file"]

    /// The case directories under `path`: `path` itself when it holds `expected.jsonl`, else each of
    /// its subdirectories (hidden ones skipped), sorted; a subdirectory without one is a bad case.
    public static func discover(_ path: String) throws(RuleTestProblem) -> [String] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RuleTestProblem(file: path, problem: "is not a directory")
        }
        if fm.fileExists(atPath: (path as NSString).appendingPathComponent(expectedFile)) { return [path] }
        let names: [String]
        do { names = try fm.contentsOfDirectory(atPath: path) } catch {
            throw RuleTestProblem(file: path, problem: "cannot be read: \(error.localizedDescription)")
        }
        let cases = names.sorted().filter { !$0.hasPrefix(".") }.map { (path as NSString).appendingPathComponent($0) }.filter {
            var d: ObjCBool = false
            return fm.fileExists(atPath: $0, isDirectory: &d) && d.boolValue
        }
        guard !cases.isEmpty else {
            throw RuleTestProblem(file: path, problem: "holds no test case (a directory with \(expectedFile), or subdirectories that are)")
        }
        return cases
    }

    /// Reads a case directory; throws naming the file and what is wrong with it.
    public static func load(directory: String, name: String) throws(RuleTestProblem) -> RuleTestCase {
        let fm = FileManager.default
        func file(_ n: String) -> String { (directory as NSString).appendingPathComponent(n) }
        let names: [String]
        do { names = try fm.contentsOfDirectory(atPath: directory).sorted() } catch {
            throw RuleTestProblem(file: directory, problem: "cannot be read: \(error.localizedDescription)")
        }
        guard names.contains(expectedFile) else {
            throw RuleTestProblem(file: file(expectedFile), problem: "is missing: every case lists the alerts it expects (an empty file: none)")
        }
        let expected = try readExpected(file(expectedFile))
        var configuration: ConfigLayer?
        if names.contains(configurationFile) {
            configuration = relativePaths(ConfigurationLoader.fileLayer(path: file(configurationFile)), directory: directory)
        }
        var options = Options()
        if names.contains(optionsFile) { options = try readOptions(file(optionsFile)) }
        // A file the case's configuration names (an exceptions file beside the events) is not an input.
        let named = Set((configuration?.values ?? []).compactMap { v -> String? in
            guard relativePathKeys.contains(v.path), case .scalar(let p) = v.entry.value else { return nil }
            return (p as NSString).standardizingPath
        })
        let inputs = names.filter {
            !$0.hasPrefix(".") && ![expectedFile, configurationFile, optionsFile].contains($0) && !$0.lowercased().hasSuffix(".md")
                && !named.contains((file($0) as NSString).standardizingPath)
        }
        guard !inputs.isEmpty else {
            throw RuleTestProblem(file: directory, problem: "has no input: put the CloudTrail events in a file beside \(expectedFile) (e.g. events.json)")
        }
        return RuleTestCase(name: name, directory: directory, inputs: inputs, expected: expected,
                            configuration: configuration, options: options)
    }

    static func readExpected(_ path: String) throws(RuleTestProblem) -> [Expectation] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw RuleTestProblem(file: path, problem: "cannot be read: \(error.localizedDescription)")
        }
        var out: [Expectation] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let value = JSONValue.parse(Array(line.utf8)), case .object = value else {
                throw RuleTestProblem(file: "\(path):\(i + 1)", problem: "is not a JSON object (each line: the fields an expected alert must have)")
            }
            out.append(Expectation(line: i + 1, value: value))
        }
        return out
    }

    static func readOptions(_ path: String) throws(RuleTestProblem) -> Options {
        func bad(_ key: String, _ problem: String) -> RuleTestProblem { RuleTestProblem(file: path, problem: "\(key) \(problem)") }
        let node: Node?
        do {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            node = try Yams.compose(yaml: text)
        } catch {
            throw RuleTestProblem(file: path, problem: "cannot be read as YAML: \(error)")
        }
        var options = Options()
        guard let node else { return options }
        guard case .mapping(let mapping) = node else {
            throw RuleTestProblem(file: path, problem: "is not a mapping (keys: description, extra_alerts, include_open, filtered)")
        }
        let reasons = RejectReason.allCases.map(\.label)
        for (k, v) in mapping {
            let key = k.scalar?.string ?? "(key)"
            switch key {
            case "description":
                options.description = v.scalar?.string
            case "extra_alerts":
                switch v.scalar?.string {
                case "fail": options.ignoreExtraAlerts = false
                case "ignore": options.ignoreExtraAlerts = true
                default: throw bad(key, "is '\(v.scalar?.string ?? "?")' (allowed: fail, ignore)")
                }
            case "include_open":
                guard let b = v.bool else { throw bad(key, "is not true or false") }
                options.includeOpen = b
            case "filtered":
                guard case .mapping(let counts) = v else {
                    throw bad(key, "is not a mapping of filter reason to event count (reasons: \(reasons.joined(separator: ", ")))")
                }
                var out: [String: Int] = [:]
                for (rk, rv) in counts {
                    let reason = rk.scalar?.string ?? "?"
                    guard reasons.contains(reason) else {
                        throw bad("filtered.\(reason)", "is not a filter reason (allowed: \(reasons.joined(separator: ", ")))")
                    }
                    guard let n = rv.int, n >= 0 else { throw bad("filtered.\(reason)", "is not a count of events") }
                    out[reason] = n
                }
                options.filtered = out
            default:
                throw bad(key, "is not a case option (allowed: description, extra_alerts, include_open, filtered)")
            }
        }
        return options
    }

    /// A relative `enrichment.*_database` or `rule.exceptions_file` path names a file beside the case, wherever the tests run from.
    static func relativePaths(_ layer: ConfigLayer, directory: String) -> ConfigLayer {
        var out = layer
        out.values = layer.values.map { entry -> (path: String, entry: ConfigEntry) in
            guard relativePathKeys.contains(entry.path), case .scalar(let v) = entry.entry.value,
                  !v.isEmpty, !v.hasPrefix("/"), !v.hasPrefix("${") else { return entry }
            let resolved = ((directory as NSString).appendingPathComponent(v) as NSString).standardizingPath
            return (entry.path, ConfigEntry(.scalar(resolved), source: entry.entry.source))
        }
        return out
    }
}

/// A case directory that cannot be run: the file and what is wrong with it (exit status 2).
public struct RuleTestProblem: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var problem: String
    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }
    public var description: String { "\(file): \(problem)" }
}
