/// One configuration value before validation, as it came from a file, the environment or a flag.
public enum RawValue: Sendable, Hashable {
    case scalar(String)
    case list([String])
    /// A YAML mapping where a value was expected: kept only to say "wrong type".
    case mapping
    /// YAML `null`/`~`: "unset" for optional keys.
    case null

    /// How error messages show it.
    var shown: String {
        switch self {
        case .scalar(let s): return s.count > 80 ? "'\(s.prefix(77))...'" : "'\(s)'"
        case .list(let l): return "[\(l.joined(separator: ", "))]"
        case .mapping: return "a mapping"
        case .null: return "null"
        }
    }
}

/// Where a value came from, so that an error can say which file line, variable or flag to fix.
public enum ConfigSource: Sendable, Hashable, CustomStringConvertible {
    case file(path: String, line: Int?)
    case environment(variable: String)
    case flag(name: String)

    public var description: String {
        switch self {
        case .file(let path, let line?): return "\(path):\(line)"
        case .file(let path, nil): return path
        case .environment(let v): return "environment \(v)"
        case .flag(let n): return "flag \(n)"
        }
    }

    /// Environment variables and flags carry lists as comma-separated text.
    var splitsCommas: Bool {
        if case .file = self { return false }
        return true
    }
}

public struct ConfigEntry: Sendable, Hashable {
    public var value: RawValue
    public var source: ConfigSource
    public init(_ value: RawValue, source: ConfigSource) {
        self.value = value
        self.source = source
    }
}

/// The values one source sets: dotted key paths (`rule.threshold`), and librdkafka properties
/// by their own names (kept apart because those names contain dots themselves).
public struct ConfigLayer: Sendable, Hashable {
    public var values: [(path: String, entry: ConfigEntry)] = []
    public var kafka: [(name: String, entry: ConfigEntry)] = []
    /// Problems found while reading the source itself (not a mapping, an alias, ...).
    public var problems: [ConfigProblem] = []
    /// Worth saying, not worth refusing to start for (unknown `TOKENTRAIL_*` variables).
    public var warnings: [ConfigProblem] = []

    public init() {}

    public mutating func set(_ path: String, _ value: RawValue, source: ConfigSource) {
        values.append((path, ConfigEntry(value, source: source)))
    }

    public mutating func setKafka(_ name: String, _ value: RawValue, source: ConfigSource) {
        kafka.append((name, ConfigEntry(value, source: source)))
    }

    public static func == (a: ConfigLayer, b: ConfigLayer) -> Bool {
        a.values.map(\.path) == b.values.map(\.path) && a.values.map(\.entry) == b.values.map(\.entry)
            && a.kafka.map(\.name) == b.kafka.map(\.name) && a.kafka.map(\.entry) == b.kafka.map(\.entry)
            && a.problems == b.problems && a.warnings == b.warnings
    }

    public func hash(into hasher: inout Hasher) {
        for (p, e) in values { hasher.combine(p); hasher.combine(e) }
        for (n, e) in kafka { hasher.combine(n); hasher.combine(e) }
    }
}

/// One thing wrong with the configuration: which key, what value, where from, what is allowed.
public struct ConfigProblem: Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var value: String?
    public var problem: String
    public var allowed: String?
    public var source: ConfigSource?

    public init(path: String, value: String? = nil, problem: String, allowed: String? = nil, source: ConfigSource? = nil) {
        self.path = path
        self.value = value
        self.problem = problem
        self.allowed = allowed
        self.source = source
    }

    public var description: String {
        var text = path
        if let value { text += ": \(value)" }
        text += " \(problem)"
        if let allowed { text += " (allowed: \(allowed))" }
        if let source { text += " [\(source)]" }
        return text
    }
}

/// Every problem found, so that one run of `check-config` lists them all. Exit code 2.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]
    public init(_ problems: [ConfigProblem]) { self.problems = problems }

    public var description: String {
        let lines = problems.map { "  - \($0)" }.joined(separator: "\n")
        return "invalid configuration (\(problems.count) problem\(problems.count == 1 ? "" : "s")):\n\(lines)"
    }
}
