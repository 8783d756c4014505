import Detection
import Foundation
import Yams

/// Builds the effective configuration: defaults < config file < environment < flags.
///
/// Every layer is validated in full, in that order, and every problem of every layer is reported
/// at once: a typo in the file is an error even when a flag happens to override the same key.
public enum ConfigurationLoader {
    /// The prefix of every environment variable tokentrail reads.
    public static let environmentPrefix = "TOKENTRAIL_"
    /// Names the config file when `--config` is not given.
    public static let configFileVariable = "TOKENTRAIL_CONFIG"

    /// Applies the layers over the defaults; throws every problem found.
    public static func resolve(_ layers: [ConfigLayer]) throws(ConfigurationError) -> TokentrailSettings {
        try resolveWithSources(layers).settings
    }

    /// As `resolve`, plus where each key that is not a default came from (`kafka.<name>` for
    /// librdkafka properties): `run` treats an explicitly chosen metrics port differently from the default.
    public static func resolveWithSources(_ layers: [ConfigLayer]) throws(ConfigurationError) -> ResolvedConfiguration {
        var settings = TokentrailSettings()
        // The profile sets every rule.* default, so it applies first, from the highest layer that
        // names a known one; the rule.* keys of every layer then override it.
        if let name = layers.flatMap(\.values).last(where: { $0.path == "rule.profile" })
            .flatMap({ entry -> String? in if case .scalar(let v) = entry.entry.value { v.trimmingSpaces } else { nil } }),
           let profile = RuleConfiguration.profile(named: name) {
            settings.ruleProfile = name
            settings.detector.rule = profile
        }
        let layers = layers.map(expandingFileReferences)
        var sources: [String: ConfigSource] = [:]
        let warnings = layers.flatMap(\.warnings)
        var problems: [ConfigProblem] = []
        let schema = ConfigSchema.byPath
        for layer in layers {
            problems += layer.problems
            for (path, entry) in layer.values {
                guard let key = schema[path] else {
                    problems.append(unknownKey(path, entry: entry))
                    continue
                }
                do throws(ConfigProblem) {
                    try key.apply(&settings, ValueReader(path: path, entry: entry, allowed: key.allowed))
                    sources[path] = entry.source
                } catch {
                    problems.append(error)
                }
            }
            for (name, entry) in layer.kafka {
                let path = "kafka.\(name)"
                let shown = SecretMasking.isSecret(name) ? SecretMasking.mask : entry.value.shown
                guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_") }) else {
                    problems.append(ConfigProblem(path: path, value: shown, problem: "is not a librdkafka property name",
                                                  allowed: "librdkafka's dotted names, e.g. sasl.mechanism", source: entry.source))
                    continue
                }
                switch entry.value {
                case .scalar(let v):
                    settings.kafka[name] = v
                    sources[path] = entry.source
                case .null:
                    settings.kafka[name] = nil
                    sources[path] = entry.source
                case .list, .mapping:
                    problems.append(ConfigProblem(path: path, value: shown, problem: "is not a single value",
                                                  allowed: "a string, number or boolean, passed to librdkafka as text", source: entry.source))
                }
            }
        }
        problems += crossChecks(settings)
        // A region already refused as a value is not reported again as missing.
        problems += mskIAMChecks(settings).filter { p in !problems.contains { $0.path == p.path } }
        let enrichment = enrichmentChecks(settings)
        problems += enrichment.problems
        guard problems.isEmpty else { throw ConfigurationError(problems) }
        return ResolvedConfiguration(settings: settings, sources: sources, warnings: warnings + enrichment.warnings)
    }

    /// Rules that involve more than one key.
    static func crossChecks(_ s: TokentrailSettings) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        for t in s.inputTopics where !ConfigSchema.isTopicName(t) {
            problems.append(ConfigProblem(path: "topics.input", value: "'\(t)'", problem: "is not a valid Kafka topic name", allowed: ConfigSchema.topicAllowed))
        }
        let written = [("topics.output", s.outputTopic), ("topics.dead_letter", s.deadLetterTopic),
                       ("topics.repartition", s.pipelineConfiguration.effectiveRepartitionTopic),
                       ("topics.checkpoint", s.pipelineConfiguration.effectiveCheckpointTopic)]
        for (path, topic) in written where s.inputTopics.contains(topic) {
            problems.append(ConfigProblem(path: path, value: "'\(topic)'", problem: "is also an input topic",
                                          allowed: "a topic tokentrail writes must not be one it reads as input"))
        }
        problems += suppressionChecks(s)
        if (s.kafka["bootstrap.servers"] ?? "").trimmingSpaces.isEmpty {
            problems.append(ConfigProblem(path: "kafka.bootstrap.servers", value: "''", problem: "is empty",
                                          allowed: "host:port[,host:port...]"))
        }
        return problems
    }

    /// `rule.suppression`: `for` counts whole windows, and an issuer's sessions must share a partition.
    static func suppressionChecks(_ s: TokentrailSettings) -> [ConfigProblem] {
        let suppression = s.detector.suppression
        guard suppression.isEnabled else { return [] }
        var problems: [ConfigProblem] = []
        let window = s.detector.rule.windowSize.milliseconds
        let period = suppression.period.milliseconds
        if period % window != 0 {
            let size = DurationText.format(s.detector.rule.windowSize)
            problems.append(ConfigProblem(
                path: "rule.suppression.for", value: "'\(DurationText.format(suppression.period))'",
                problem: "is not a multiple of rule.window_size (\(size))",
                allowed: "a multiple of rule.window_size, e.g. \(size) or \(DurationText.format(s.detector.rule.windowSize * 2))"))
        }
        if suppression.by == .issuer && s.inputKeyed {
            problems.append(ConfigProblem(
                path: "rule.suppression.by", value: "'issuer'",
                problem: "cannot be used with input_keyed true: input keyed by principal spreads one role's sessions over partitions, which would split its incidents",
                allowed: "grouping_key or access_key_id with keyed input; issuer with unkeyed input (the route stage then keys records by issuer)"))
        }
        return problems
    }

    /// OAUTHBEARER needs a token source, and MSK IAM tokens are only used by OAUTHBEARER.
    static func mskIAMChecks(_ s: TokentrailSettings) -> [ConfigProblem] {
        let mechanism = s.kafka["sasl.mechanism"]?.trimmingSpaces
        let oauthBearer = mechanism?.uppercased() == "OAUTHBEARER"
        let librdkafkaSource = s.kafka["sasl.oauthbearer.method"]?.trimmingSpaces.lowercased() == "oidc"
            || s.kafka["enable.sasl.oauthbearer.unsecure.jwt"]?.trimmingSpaces.lowercased() == "true"
        switch (s.awsMSKIAM.region, oauthBearer) {
        case (nil, true) where !librdkafkaSource:
            return [ConfigProblem(path: "aws_msk_iam.region", value: "null",
                                  problem: "is needed: kafka.sasl.mechanism OAUTHBEARER has no token source",
                                  allowed: "the MSK cluster's AWS region, e.g. us-east-1 (or kafka.sasl.oauthbearer.method: oidc)")]
        case (let region?, false):
            return [ConfigProblem(path: "kafka.sasl.mechanism", value: mechanism.map { "'\($0)'" } ?? "unset",
                                  problem: "must be OAUTHBEARER when aws_msk_iam.region is set (\(region)): MSK IAM tokens go over SASL/OAUTHBEARER",
                                  allowed: "OAUTHBEARER")]
        case (_?, true) where librdkafkaSource:
            return [ConfigProblem(path: "aws_msk_iam.region", value: "'\(s.awsMSKIAM.region ?? "")'",
                                  problem: "conflicts with librdkafka's own OAUTHBEARER token source (kafka.sasl.oauthbearer.method oidc or unsecure JWT)",
                                  allowed: "one token source: null here, or remove the librdkafka one")]
        case (_?, true) where !(s.kafka["security.protocol"]?.trimmingSpaces.uppercased().hasPrefix("SASL_") ?? false):
            // librdkafka's default, plaintext, never sends the token: MSK closes the connection without saying why.
            return [ConfigProblem(path: "kafka.security.protocol", value: s.kafka["security.protocol"].map { "'\($0)'" } ?? "unset",
                                  problem: "does not use SASL, so the MSK IAM token is never sent",
                                  allowed: "SASL_SSL (MSK's IAM listeners, ports 9098 and 9198)")]
        default:
            return []
        }
    }

    /// What the rule needs from the GeoIP databases. A minimum fidelity that no window can reach
    /// without a database is an error (the detector would never alert, silently); a signal or an
    /// exclusion that is merely inactive is a warning.
    static func enrichmentChecks(_ s: TokentrailSettings) -> (problems: [ConfigProblem], warnings: [ConfigProblem]) {
        let rule = s.detector.rule
        let asn = s.enrichment.asnDatabase != nil
        let city = s.enrichment.cityDatabase != nil
        var problems: [ConfigProblem] = []
        var warnings: [ConfigProblem] = []
        let profile = "(rule.profile \(s.ruleProfile))"
        switch rule.minimumFidelity {
        case .high? where !asn || !city:
            problems.append(ConfigProblem(
                path: !asn ? "enrichment.asn_database" : "enrichment.city_database",
                problem: "is needed: rule.min_fidelity high needs two networks and two cities, so without both databases no window can alert \(profile)",
                allowed: "paths of an ASN and a City .mmdb (--geoip-asn, --geoip-city), or rule.min_fidelity low"))
        case .medium? where !asn && !city:
            problems.append(ConfigProblem(
                path: "enrichment.asn_database",
                problem: "is needed: rule.min_fidelity medium needs two networks or two cities, so without a database no window can alert \(profile)",
                allowed: "a path of an ASN or a City .mmdb (--geoip-asn, --geoip-city), or rule.min_fidelity low"))
        case .some:
            if !asn { warnings.append(ConfigProblem(path: "enrichment.asn_database", problem: "is not set: networks never count toward fidelity \(profile)")) }
            if !city { warnings.append(ConfigProblem(path: "enrichment.city_database", problem: "is not set: cities never count toward fidelity \(profile)")) }
        case nil:
            break
        }
        let exclusions = rule.excludedNetworkOrganizations.union(rule.excludedDataEventNetworkOrganizations)
        if !asn && !exclusions.isEmpty {
            warnings.append(ConfigProblem(path: "enrichment.asn_database",
                                          problem: "is not set: the exclusions of \(exclusions.sorted().joined(separator: ", ")) are inactive \(profile)"))
        }
        return (problems, warnings)
    }

    static func unknownKey(_ path: String, entry: ConfigEntry) -> ConfigProblem {
        let keys = ConfigSchema.keys
        if ConfigSchema.sections.contains(path) && !path.isEmpty {
            return ConfigProblem(path: path, value: entry.value.shown, problem: "is a section, expected a mapping",
                                 allowed: "keys \(keys.filter { $0.section == path }.map(\.leaf).joined(separator: ", "))",
                                 source: entry.source)
        }
        let section = path.contains(".") ? String(path[..<path.lastIndex(of: ".")!]) : ""
        let siblings = keys.filter { $0.section == section }.map(\.path)
        let nearest = keys.map(\.path).min { editDistance($0, path) < editDistance($1, path) }
        var problem = "is not a configuration key"
        if let nearest, editDistance(nearest, path) <= 3 { problem += " (did you mean \(nearest)?)" }
        let allowed = siblings.isEmpty
            ? "sections \(ConfigSchema.sections.filter { !$0.isEmpty && !$0.contains(".") }.joined(separator: ", ")), kafka, and top-level keys"
            : siblings.joined(separator: ", ")
        return ConfigProblem(path: path, value: nil, problem: problem, allowed: allowed, source: entry.source)
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }

    // MARK: file

    /// Reads a YAML config file into a layer; an unreadable file or bad YAML is a problem of its own.
    public static func fileLayer(path: String) -> ConfigLayer {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            var layer = ConfigLayer()
            layer.problems.append(ConfigProblem(path: "--config", value: "'\(path)'", problem: "cannot be read: \(error.localizedDescription)"))
            return layer
        }
        return yamlLayer(text, path: path)
    }

    /// Flattens a YAML document: nested mappings become dotted paths; `kafka:` stays a flat map
    /// of librdkafka names (which contain dots themselves).
    public static func yamlLayer(_ text: String, path: String) -> ConfigLayer {
        var layer = ConfigLayer()
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            layer.problems.append(ConfigProblem(path: "(file)", problem: "is not valid YAML: \(error)", source: .file(path: path, line: nil)))
            return layer
        }
        guard let root else { return layer }  // An empty file is all defaults.
        guard case .mapping(let mapping) = root else {
            layer.problems.append(ConfigProblem(path: "(file)", problem: "is not a mapping of keys",
                                                allowed: "a YAML mapping such as 'group_id: tokentrail'", source: source(root, path)))
            return layer
        }
        flatten(mapping, prefix: "", file: path, into: &layer)
        return layer
    }

    private static func source(_ node: Node, _ path: String) -> ConfigSource {
        .file(path: path, line: node.mark.map { $0.line })
    }

    private static func flatten(_ mapping: Node.Mapping, prefix: String, file: String, into layer: inout ConfigLayer) {
        var seen: Set<String> = []
        for (k, v) in mapping {
            guard let name = k.scalar?.string else {
                layer.problems.append(ConfigProblem(path: prefix.isEmpty ? "(key)" : prefix, problem: "has a key that is not text", source: source(k, file)))
                continue
            }
            let path = prefix.isEmpty ? name : "\(prefix).\(name)"
            if !seen.insert(name).inserted {
                layer.problems.append(ConfigProblem(path: path, problem: "is given twice", source: source(k, file)))
            }
            if path == "kafka" {
                guard case .mapping(let props) = v else {
                    if case .scalar(let s) = v, s.string.isEmpty || v.null != nil { continue }  // `kafka:` left empty
                    layer.problems.append(ConfigProblem(path: "kafka", value: raw(v).shown, problem: "is a section, expected a mapping",
                                                        allowed: "librdkafka properties, e.g. bootstrap.servers: host:9092", source: source(v, file)))
                    continue
                }
                for (pk, pv) in props {
                    guard let pname = pk.scalar?.string else { continue }
                    layer.setKafka(pname, raw(pv), source: source(pk, file))
                }
                continue
            }
            if case .mapping(let inner) = v, ConfigSchema.sections.contains(path) {
                flatten(inner, prefix: path, file: file, into: &layer)
            } else {
                layer.set(path, raw(v), source: source(k, file))
            }
        }
    }

    private static func raw(_ node: Node) -> RawValue {
        switch node {
        case .scalar(let s):
            // A plain `~`/`null`/empty value is YAML null; a quoted one is text.
            if s.style == .plain, node.null != nil { return .null }
            return .scalar(s.string)
        case .sequence(let seq):
            var items: [String] = []
            for item in seq {
                guard case .scalar(let s) = item else { return .mapping }
                items.append(s.string)
            }
            return .list(items)
        case .mapping: return .mapping
        case .alias: return .mapping
        }
    }

    // MARK: environment

    /// `TOKENTRAIL_GROUP_ID` sets `group_id`; a double underscore nests (`TOKENTRAIL_RULE__THRESHOLD`
    /// sets `rule.threshold`); `TOKENTRAIL_KAFKA__SASL_PASSWORD` sets the librdkafka property
    /// `sasl.password` (librdkafka names have no underscores, so `_` maps back to `.`).
    /// Lists are comma-separated. An unknown `TOKENTRAIL_` variable is a warning (see `warnings`).
    public static func environmentLayer(_ environment: [String: String]) -> ConfigLayer {
        var layer = ConfigLayer()
        for (variable, value) in environment.sorted(by: { $0.key < $1.key }) where variable.hasPrefix(environmentPrefix) {
            guard variable != configFileVariable, !isServiceLink(variable) else { continue }
            let rest = variable.dropFirst(environmentPrefix.count)
            let source = ConfigSource.environment(variable: variable)
            if rest.hasPrefix("KAFKA__") {
                let name = rest.dropFirst("KAFKA__".count).lowercased().replacingOccurrences(of: "_", with: ".")
                layer.setKafka(name, .scalar(value), source: source)
            } else {
                let path = rest.lowercased().replacingOccurrences(of: "__", with: ".")
                if ConfigSchema.byPath[path] == nil {
                    // The environment is shared with other tools (test harnesses, scripts), so an
                    // unknown variable is a warning naming the nearest key, not a refusal to start.
                    var warning = unknownKey(path, entry: ConfigEntry(.scalar(value), source: source))
                    warning.problem = "is not a configuration key, ignored" + (warning.problem.contains("did you mean")
                        ? String(warning.problem[warning.problem.range(of: " (did you mean")!.lowerBound...]) : "")
                    layer.warnings.append(warning)
                } else {
                    layer.set(path, .scalar(value), source: source)
                }
            }
        }
        return layer
    }

    /// A value written `${file:/path}` is the content of that file, less a final line break: secrets
    /// mounted as files (Kubernetes Secrets, Docker secrets) without putting them in the environment.
    /// A file that cannot be read is a problem of the key that names it; its content is never shown.
    static func expandingFileReferences(_ layer: ConfigLayer) -> ConfigLayer {
        var out = layer
        func expand(_ key: String, _ entry: ConfigEntry) -> ConfigEntry? {
            guard case .scalar(let v) = entry.value else { return entry }
            let text = v.trimmingSpaces
            guard text.hasPrefix("${file:"), text.hasSuffix("}") else { return entry }
            let path = String(text.dropFirst("${file:".count).dropLast())
            guard path.hasPrefix("/") else {
                out.problems.append(ConfigProblem(path: key, value: "'\(text)'", problem: "names a file by a relative path",
                                                  allowed: "${file:/absolute/path}", source: entry.source))
                return nil
            }
            do {
                var content = try String(contentsOfFile: path, encoding: .utf8)
                if content.hasSuffix("\r\n") { content.removeLast(2) } else if content.hasSuffix("\n") { content.removeLast() }
                return ConfigEntry(.scalar(content), source: entry.source)
            } catch {
                out.problems.append(ConfigProblem(path: key, value: "'\(text)'", problem: "cannot be read: \(error.localizedDescription)",
                                                  allowed: "${file:/absolute/path} naming a readable UTF-8 file", source: entry.source))
                return nil
            }
        }
        let values = layer.values.compactMap { v in expand(v.path, v.entry).map { (path: v.path, entry: $0) } }
        let kafka = layer.kafka.compactMap { k in expand("kafka.\(k.name)", k.entry).map { (name: k.name, entry: $0) } }
        out.values = values
        out.kafka = kafka
        return out
    }

    /// Kubernetes gives every container variables for each Service of its namespace (service links,
    /// unless `enableServiceLinks: false`); a Service named `tokentrail` makes `TOKENTRAIL_PORT`,
    /// `TOKENTRAIL_SERVICE_HOST`, `TOKENTRAIL_PORT_9464_TCP_ADDR` and the like. No configuration key has
    /// those shapes: they are skipped without a warning.
    public static func isServiceLink(_ variable: String) -> Bool {
        let rest = variable.dropFirst(environmentPrefix.count)
        if rest == "PORT" || rest == "SERVICE_HOST" || rest == "SERVICE_PORT" || rest.hasPrefix("SERVICE_PORT_") { return true }
        // PORT_<number>_<TCP|UDP|SCTP>[_PROTO|_PORT|_ADDR]
        let parts = rest.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[0] == "PORT", parts[1].allSatisfy(\.isNumber), !parts[1].isEmpty,
              ["TCP", "UDP", "SCTP"].contains(parts[2]) else { return false }
        return parts.count == 3 || (parts.count == 4 && ["PROTO", "PORT", "ADDR"].contains(parts[3]))
    }

    /// The environment variable that sets a key (for docs and messages).
    public static func environmentVariable(for path: String) -> String {
        environmentPrefix + path.replacingOccurrences(of: ".", with: "__").uppercased()
    }

    /// The config file to read: the flag, else `TOKENTRAIL_CONFIG`, else none (defaults only).
    public static func configFilePath(flag: String?, environment: [String: String]) -> String? {
        if let flag, !flag.isEmpty { return flag }
        if let e = environment[configFileVariable], !e.isEmpty { return e }
        return nil
    }

    /// The usual stack: file (if any), environment, flags.
    public static func load(configFile: String?, environment: [String: String], flags: ConfigLayer) throws(ConfigurationError) -> ResolvedConfiguration {
        var layers: [ConfigLayer] = []
        if let path = configFilePath(flag: configFile, environment: environment) { layers.append(fileLayer(path: path)) }
        layers.append(environmentLayer(environment))
        layers.append(flags)
        return try resolveWithSources(layers)
    }
}

extension ConfigProblem: Error {}

/// The effective settings and, for every key some layer set, the layer that won.
public struct ResolvedConfiguration: Sendable {
    public var settings: TokentrailSettings
    public var sources: [String: ConfigSource]
    /// To log at start (`run`) or print to stderr (`check-config`).
    public var warnings: [ConfigProblem]
}
