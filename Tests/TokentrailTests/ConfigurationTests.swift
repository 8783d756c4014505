import KafkaClient
import Logging
import Detection
import Foundation
import Pipeline
import Testing
import TokentrailCore

/// Loads YAML text (and optionally environment and flags) the way `run` does.
func load(_ yaml: String, environment: [String: String] = [:], flags: ConfigLayer = ConfigLayer()) throws(ConfigurationError) -> TokentrailSettings {
    try ConfigurationLoader.resolve([
        ConfigurationLoader.yamlLayer(yaml, path: "test.yaml"),
        ConfigurationLoader.environmentLayer(environment),
        flags,
    ])
}

/// The problems a config yields (empty when it is valid).
func problems(_ yaml: String, environment: [String: String] = [:]) -> [ConfigProblem] {
    do {
        _ = try load(yaml, environment: environment)
        return []
    } catch {
        return error.problems
    }
}

@Suite struct MalformedConfigurationTests {
    /// Each malformed config is rejected, and the message names the key, shows the value and
    /// says what is allowed: what an operator needs to fix it without reading the source.
    @Test(arguments: [
        ("rule:\n  treshold: 3\n", "rule.treshold", "did you mean rule.threshold", "rule.threshold"),
        ("group_id: [a, b]\n", "group_id", "is a list", "a non-empty string"),
        ("commit_interval: 30\n", "commit_interval", "is not a duration", "e.g. 250ms, 30s"),
        ("time:\n  max_out_of_orderness: 5 minutes\n", "time.max_out_of_orderness", "is not a duration", "unit"),
        ("processing_guarantee: exactly-once\n", "processing_guarantee", "'exactly-once' is not one of the allowed values", "at_least_once, exactly_once"),
        ("rule:\n  threshold: 0\n", "rule.threshold", "'0' is out of range", "an integer from 1 to 1000000"),
        ("metrics:\n  port: 70000\n", "metrics.port", "'70000' is out of range", "from 0 to 65535"),
        ("rule:\n  allowed_networks: [10.0.0.0/8, 10.1.0.0/33]\n", "rule.allowed_networks", "'10.1.0.0/33' is not a CIDR block", "203.0.113.0/24"),
        ("rule:\n  grouping_key: arn\n", "rule.grouping_key", "'arn'", "principal_arn, access_key_id"),
        ("input_keyed: yes please\n", "input_keyed", "is not a boolean", "true or false"),
        ("topics:\n  input: []\n", "topics.input", "is empty", "non-empty list"),
        ("topics:\n  output: 'bad topic!'\n", "topics.output", "not a valid Kafka topic name", "a-z A-Z 0-9"),
        ("logging:\n  level: verbose\n", "logging.level", "'verbose'", "trace, debug, info"),
        ("rule: 3\n", "rule", "is a section", "threshold"),
        ("kafka:\n  bootstrap.servers: [a, b]\n", "kafka.bootstrap.servers", "is not a single value", "passed to librdkafka as text"),
        ("time:\n  idle_timeout: never\n", "time.idle_timeout", "is not a duration", "off, or"),
        ("output:\n  format: json\n", "output.format", "'json' is not one of the allowed values", "native, ocsf, ecs"),
        ("rule:\n  suppression: {by: principal, for: 1h}\n", "rule.suppression.by", "'principal' is not one of the allowed values",
         "off, grouping_key, access_key_id, issuer"),
        ("rule:\n  suppression: {by: grouping_key, for: 45m}\n", "rule.suppression.for", "is not a multiple of rule.window_size (30m)",
         "a multiple of rule.window_size"),
        ("rule:\n  suppression:\n    by: access_key_id\n    for: forever\n", "rule.suppression.for", "is not a duration", "from 1s to 30d"),
        ("input_keyed: true\nrule:\n  suppression: {by: issuer, for: 1h}\n", "rule.suppression.by", "cannot be used with input_keyed true",
         "issuer with unkeyed input"),
    ])
    func rejected(yaml: String, path: String, says: String, allowed: String) {
        let found = problems(yaml)
        #expect(found.count == 1, "\(found)")
        guard let p = found.first else { return }
        #expect(p.path == path)
        let text = ConfigurationError(found).description
        #expect(text.contains(path), "\(text)")
        #expect(text.contains(says), "\(text)")
        #expect(text.contains(allowed), "\(text)")
    }

    @Test func everyProblemIsReportedAtOnceWithItsLine() {
        let found = problems("group_id: ok\nrule:\n  threshold: -1\n  window_size: 1y\nbogus: 1\n")
        #expect(found.map(\.path).sorted() == ["bogus", "rule.threshold", "rule.window_size"])
        let threshold = found.first { $0.path == "rule.threshold" }
        #expect(threshold?.source == .file(path: "test.yaml", line: 3))
    }

    @Test func notYAMLOrNotAMappingIsRejected() {
        #expect(problems("a: [unclosed\n").first?.problem.contains("not valid YAML") == true)
        #expect(problems("- just\n- a list\n").first?.problem.contains("not a mapping") == true)
    }

    @Test func writtenTopicThatIsAlsoInputIsRejected() {
        let found = problems("topics:\n  input: [cloudtrail]\n  output: cloudtrail\n")
        #expect(found.map(\.path) == ["topics.output"])
    }

    @Test func emptyFileMeansDefaults() throws {
        #expect(try load("") == TokentrailSettings())
        #expect(try load("# only a comment\n") == TokentrailSettings())
    }
}

@Suite struct ConfigurationValuesTests {
    @Test func everyRuleKnobReachesThePipelineConfiguration() throws {
        let s = try load("""
            kafka:
              bootstrap.servers: b1:9092,b2:9092
              security.protocol: SASL_SSL
              statistics.interval.ms: 5000
            group_id: soc
            input_keyed: true
            processing_guarantee: exactly_once
            instance_id: pod-0
            commit_interval: 5s
            session_timeout: 30s
            topics:
              input: [ct-a, ct-b]
              output: alerts
              repartition: soc.rp
              create:
                partitions: 12
                replication_factor: 3
                retention: 3d
            rule:
              identity_types: [AssumedRole]
              access_key_prefixes: [ASIA, AKIA]
              excluded_user_agents: []
              excluded_event_sources: [health.amazonaws.com]
              exclude_console_sessions: true
              allowed_networks: [203.0.113.0/24, "2001:db8::/32"]
              allowed_principals: ["arn:aws:sts::*:assumed-role/BreakGlass/*"]
              threshold: 3
              window_size: 1h
              grouping_key: access_key_id
              address_normalization: ipv6_prefix64
            time:
              max_out_of_orderness: 10m
              allowed_lateness: 2m
              idle_timeout: off
              update_interval: 30s
              emit_open_alerts: false
            evidence:
              source_addresses: 50
            """)
        let c = s.pipelineConfiguration
        #expect(c.kafka.bootstrapServers == "b1:9092,b2:9092")
        #expect(c.kafka.clientID == "tokentrail")
        #expect(c.kafka.properties == ["security.protocol": "SASL_SSL", "statistics.interval.ms": "5000"])
        #expect(c.groupID == "soc" && c.inputKeyed && c.processingGuarantee == .exactlyOnce && c.instanceID == "pod-0")
        #expect(c.commitInterval == .seconds(5) && c.sessionTimeoutMilliseconds == 30_000)
        #expect(c.inputTopics == ["ct-a", "ct-b"] && c.outputTopic == "alerts")
        #expect(c.effectiveRepartitionTopic == "soc.rp" && c.effectiveCheckpointTopic == "soc.checkpoints")
        #expect(c.createdTopicPartitions == 12 && c.createdTopicReplicationFactor == 3)
        #expect(c.createdTopicRetentionMilliseconds == 3 * 86_400_000)
        let r = c.detector.rule
        #expect(r.identityTypes == ["AssumedRole"] && r.accessKeyPrefixes == ["ASIA", "AKIA"])
        #expect(r.excludedUserAgentSubstrings.isEmpty && r.excludedEventSources == ["health.amazonaws.com"])
        #expect(r.excludeConsoleSessions)
        #expect(r.allowedNetworks.map(\.description) == ["203.0.113.0/24", "2001:db8::/32"])
        #expect(r.allowedPrincipals.map(\.pattern) == ["arn:aws:sts::*:assumed-role/BreakGlass/*"])
        #expect(r.threshold == 3 && r.windowSize == .seconds(3_600))
        #expect(r.groupingKey == .accessKeyId && r.addressNormalization == .ipv6Prefix64)
        #expect(c.detector.maxOutOfOrderness == .seconds(600) && c.detector.allowedLateness == .seconds(120))
        #expect(c.detector.idleTimeout == nil && c.detector.updateInterval == .seconds(30) && !c.detector.emitOpenAlerts)
        #expect(c.detector.evidenceLimits.sourceAddresses == 50)
    }

    @Test func defaultsAreTheSeedProfile() {
        let c = TokentrailSettings().pipelineConfiguration
        #expect(c.detector == DetectorConfiguration(rule: .seed))
        #expect(c.inputTopics == ["cloudtrail"] && c.groupID == "tokentrail" && c.processingGuarantee == .atLeastOnce)
    }

    @Test func durations() {
        #expect(DurationText.parse("250ms") == .milliseconds(250))
        #expect(DurationText.parse("1h30m") == .seconds(5_400))
        #expect(DurationText.parse("7d") == .seconds(7 * 86_400))
        for bad in ["", "30", "5 m", "1.5s", "-1s", "10x", "ms"] { #expect(DurationText.parse(bad) == nil, "\(bad)") }
        #expect(DurationText.format(.seconds(90)) == "1m30s")
        #expect(DurationText.format(.milliseconds(250)) == "250ms")
        #expect(DurationText.format(.seconds(1_800)) == "30m")
    }
}

@Suite struct PrecedenceTests {
    @Test func flagsBeatEnvironmentBeatFileBeatDefaults() throws {
        #expect(try load("").groupID == "tokentrail")
        #expect(try load("group_id: from-file\n").groupID == "from-file")
        let env = ["TOKENTRAIL_GROUP_ID": "from-env"]
        #expect(try load("group_id: from-file\n", environment: env).groupID == "from-env")
        var flags = ConfigLayer()
        flags.set("group_id", .scalar("from-flag"), source: .flag(name: "--group-id"))
        #expect(try load("group_id: from-file\n", environment: env, flags: flags).groupID == "from-flag")
        // A key no higher layer sets keeps the file's value.
        #expect(try load("group_id: g\nrule:\n  threshold: 4\n", environment: env, flags: flags).detector.rule.threshold == 4)
    }

    @Test func environmentNamesNestAndKafkaPropertiesMapBack() throws {
        let s = try load("kafka:\n  sasl.password: file-secret\n", environment: [
            "TOKENTRAIL_RULE__THRESHOLD": "5",
            "TOKENTRAIL_TIME__MAX_OUT_OF_ORDERNESS": "2m",
            "TOKENTRAIL_TOPICS__INPUT": "a, b,c",
            "TOKENTRAIL_KAFKA__SASL_PASSWORD": "env-secret",
            "TOKENTRAIL_KAFKA__SASL_OAUTHBEARER_CLIENT_SECRET": "s3",
            "TOKENTRAIL_CONFIG": "/ignored/as/a/key.yaml",
            "PATH": "/usr/bin",
        ])
        #expect(s.detector.rule.threshold == 5)
        #expect(s.detector.maxOutOfOrderness == .seconds(120))
        #expect(s.inputTopics == ["a", "b", "c"])
        #expect(s.kafka["sasl.password"] == "env-secret")
        #expect(s.kafka["sasl.oauthbearer.client.secret"] == "s3")
        #expect(ConfigurationLoader.environmentVariable(for: "time.max_out_of_orderness") == "TOKENTRAIL_TIME__MAX_OUT_OF_ORDERNESS")
    }

    /// Other tools share the TOKENTRAIL_ prefix (the test harness's TOKENTRAIL_TEST_BOOTSTRAP):
    /// an unknown variable is a warning naming the nearest key; a bad value of a known key is an error.
    @Test func unknownEnvironmentVariableIsAWarningNamingTheNearestKey() throws {
        let resolved = try ConfigurationLoader.resolveWithSources([ConfigurationLoader.environmentLayer(["TOKENTRAIL_GROUPID": "x"])])
        #expect(resolved.settings.groupID == "tokentrail")
        #expect(resolved.warnings.map(\.path) == ["groupid"])
        #expect(resolved.warnings.first?.source == .environment(variable: "TOKENTRAIL_GROUPID"))
        #expect(resolved.warnings.first?.description.contains("ignored (did you mean group_id?)") == true)
        #expect(problems("", environment: ["TOKENTRAIL_RULE__THRESHOLD": "many"]).map(\.path) == ["rule.threshold"])
    }

    /// What Kubernetes injects for a Service named `tokentrail` (service links) is neither a key nor a
    /// warning; a misspelt key next to them still is.
    @Test func kubernetesServiceLinksAreSkippedSilently() throws {
        let links = [
            "TOKENTRAIL_PORT": "tcp://10.96.0.12:9464", "TOKENTRAIL_SERVICE_HOST": "10.96.0.12",
            "TOKENTRAIL_SERVICE_PORT": "9464", "TOKENTRAIL_SERVICE_PORT_METRICS": "9464",
            "TOKENTRAIL_PORT_9464_TCP": "tcp://10.96.0.12:9464", "TOKENTRAIL_PORT_9464_TCP_PROTO": "tcp",
            "TOKENTRAIL_PORT_9464_TCP_PORT": "9464", "TOKENTRAIL_PORT_9464_TCP_ADDR": "10.96.0.12",
        ]
        let resolved = try ConfigurationLoader.resolveWithSources([ConfigurationLoader.environmentLayer(links.merging(["TOKENTRAIL_GROUPID": "x"]) { $1 })])
        #expect(resolved.warnings.map(\.path) == ["groupid"])
        #expect(ConfigurationLoader.isServiceLink("TOKENTRAIL_PORT_9464_UDP") && !ConfigurationLoader.isServiceLink("TOKENTRAIL_PORTS"))
        #expect(!ConfigurationLoader.isServiceLink("TOKENTRAIL_METRICS__PORT") && !ConfigurationLoader.isServiceLink("TOKENTRAIL_PORT_X_TCP"))
    }

    /// `${file:/path}`: a secret mounted as a file (a Kubernetes Secret) is read, less its final line
    /// break; an unreadable or relative one is a problem of its key that never shows a content.
    @Test func fileReferencesReadSecretsMountedAsFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "s3cr3t-from-file\n".write(to: dir.appendingPathComponent("password"), atomically: true, encoding: .utf8)
        try "soc-detect".write(to: dir.appendingPathComponent("group"), atomically: true, encoding: .utf8)
        let yaml = """
            kafka:
              sasl.password: ${file:\(dir.path)/password}
            group_id: ${file:\(dir.path)/group}
            """
        let resolved = try ConfigurationLoader.resolveWithSources([ConfigurationLoader.yamlLayer(yaml, path: "t.yaml")])
        #expect(resolved.settings.kafka["sasl.password"] == "s3cr3t-from-file")
        #expect(resolved.settings.groupID == "soc-detect")
        #expect(SecretMasking.secretValues(resolved.settings).contains("s3cr3t-from-file"), "masked in logs like any secret")
        let bad = problems("kafka:\n  sasl.password: ${file:\(dir.path)/missing}\ngroup_id: ${file:relative/group}\n")
        #expect(bad.map(\.path).sorted() == ["group_id", "kafka.sasl.password"], "\(bad)")
        #expect(bad.allSatisfy { !$0.description.contains("s3cr3t") })
    }

    /// The Kubernetes example's configuration (deploy/kubernetes/configmap.yaml) is one `run` accepts.
    @Test func theKubernetesConfigMapHoldsAValidConfiguration() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let manifest = try String(contentsOf: root.appendingPathComponent("deploy/kubernetes/configmap.yaml"), encoding: .utf8)
        // The block scalar under `tokentrail.yaml: |`, its indentation removed.
        let lines = manifest.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0.trimmingCharacters(in: .whitespaces) == "tokentrail.yaml: |" })
        let body = lines[(start + 1)...].prefix { $0.hasPrefix("    ") || $0.isEmpty }.map { $0.dropFirst(min(4, $0.count)) }.joined(separator: "\n")
        #expect(body.contains("group_id: tokentrail"))
        let resolved = try ConfigurationLoader.resolveWithSources([ConfigurationLoader.yamlLayer(body, path: "configmap.yaml")])
        #expect(resolved.warnings.isEmpty, "\(resolved.warnings)")
        #expect(resolved.settings.metrics.address == "0.0.0.0" && resolved.settings.inputTopics == ["cloudtrail"])
    }

    @Test func configFileComesFromFlagThenEnvironment() {
        #expect(ConfigurationLoader.configFilePath(flag: "a.yaml", environment: ["TOKENTRAIL_CONFIG": "b.yaml"]) == "a.yaml")
        #expect(ConfigurationLoader.configFilePath(flag: nil, environment: ["TOKENTRAIL_CONFIG": "b.yaml"]) == "b.yaml")
        #expect(ConfigurationLoader.configFilePath(flag: nil, environment: [:]) == nil)
    }

    @Test func missingFileIsAProblemNotDefaults() {
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(configFile: "/nonexistent/tokentrail.yaml", environment: [:], flags: ConfigLayer())
        }
    }

    /// The shipped example must load, and must mention every key (it is the reference).
    @Test func shippedConfigLoadsAndListsEveryKey() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../config/tokentrail.yaml").standardized.path
        let settings = try ConfigurationLoader.resolve([ConfigurationLoader.fileLayer(path: path)])
        #expect(settings.groupID == "tokentrail")
        let layer = ConfigurationLoader.fileLayer(path: path)
        let present = Set(layer.values.map(\.path))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for key in ConfigSchema.keys {
            // The rule keys other than the profile are shown commented out: set, they would override any profile.
            let leaf = key.path.split(separator: ".").last.map(String.init) ?? key.path
            let commented = key.path.hasPrefix("rule.") && key.path != "rule.profile" && text.contains("\n  # \(leaf): ")
            #expect(present.contains(key.path) || commented, "config/tokentrail.yaml lacks \(key.path)")
        }
    }

    @Test func referenceDocListsEveryKey() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/configuration.md").standardized.path
        let doc = try String(contentsOfFile: path, encoding: .utf8)
        for key in ConfigSchema.keys { #expect(doc.contains("`\(key.path)`"), "docs/configuration.md lacks \(key.path)") }
    }
}

@Suite struct MaskingTests {
    let secretYAML = """
        kafka:
          bootstrap.servers: broker:9096
          security.protocol: SASL_SSL
          sasl.mechanism: SCRAM-SHA-512
          sasl.username: detector
          sasl.password: hunter2-very-secret
          ssl.key.password: keypass-secret
          sasl.oauthbearer.client.secret: oauth-secret-value
        """

    @Test func secretNames() {
        for name in ["sasl.password", "ssl.key.password", "ssl.key.pem", "ssl.keystore.password", "sasl.oauthbearer.client.secret",
                     "sasl.oauthbearer.config", "SASL.PASSWORD"] {
            #expect(SecretMasking.isSecret(name), "\(name)")
        }
        for name in ["bootstrap.servers", "sasl.username", "sasl.mechanism", "security.protocol", "client.id"] {
            #expect(!SecretMasking.isSecret(name), "\(name)")
        }
    }

    @Test(arguments: EffectiveConfiguration.Format.allCases)
    func printedConfigurationMasksSecrets(format: EffectiveConfiguration.Format) throws {
        let text = EffectiveConfiguration.render(try load(secretYAML), format: format)
        for secret in ["hunter2-very-secret", "keypass-secret", "oauth-secret-value"] { #expect(!text.contains(secret)) }
        #expect(text.contains("****"))
        #expect(text.contains("detector"))  // not a secret: still shown
    }

    @Test func problemsAboutSecretsDoNotShowTheValue() {
        let found = problems("kafka:\n  sasl.password: [not, a, scalar]\n")
        #expect(found.first?.value == "****")
    }

    @Test func redactorScrubsLogLines() throws {
        let s = try load(secretYAML)
        let redactor = SecretRedactor(secrets: SecretMasking.secretValues(s))
        let sink = LogSink.capture()
        var handler = JSONLogHandler(label: "t", redactor: redactor, sink: sink)
        handler.logLevel = .trace
        var logger = Logger(label: "t", factory: { _ in handler })
        logger.logLevel = .trace
        logger.error("auth failed for hunter2-very-secret", metadata: ["conf": "ssl.key.password=keypass-secret", LogKeys.librdkafkaFacility: "SASL"])
        let line = try #require(sink.captured.first)
        #expect(!line.contains("hunter2") && !line.contains("keypass-secret"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "auth failed for ****")
        #expect(object["level"] as? String == "error")
        #expect(object[LogKeys.librdkafkaFacility] as? String == "SASL")
    }
}

@Suite struct EffectiveConfigurationTests {
    /// check-config's YAML is itself a valid config that yields the same settings.
    @Test func printedYAMLReadsBackAsTheSameSettings() throws {
        let original = try load("""
            group_id: g
            instance_id: null
            topics: {input: [x, y], checkpoint: g.cp}
            rule: {threshold: 3, allowed_networks: [10.0.0.0/8], allowed_principals: ["arn:*:BreakGlass"]}
            time: {idle_timeout: off, allowed_lateness: 90s}
            metrics: {address: 0.0.0.0, port: 9999}
            logging: {format: json, level: debug}
            """)
        let printed = EffectiveConfiguration.render(original, format: .yaml)
        let reread = try load(printed)
        #expect(reread == original, "\(printed)")
    }

    @Test func sourcesAreShownAsComments() throws {
        let resolved = try ConfigurationLoader.resolveWithSources([
            ConfigurationLoader.yamlLayer("kafka:\n  sasl.password: pw-value\nrule:\n  threshold: 3\n", path: "f.yaml"),
            ConfigurationLoader.environmentLayer(["TOKENTRAIL_GROUP_ID": "g"]),
        ])
        let text = EffectiveConfiguration.render(resolved.settings, format: .yaml, sources: resolved.sources)
        #expect(text.contains("group_id: \"g\"  # environment TOKENTRAIL_GROUP_ID"))
        #expect(text.contains("  threshold: 3  # f.yaml:4"))
        #expect(text.contains("  sasl.password: \"****\"  # f.yaml:2"))
        #expect(text.contains("  window_size: \"30m\"\n"))  // a default: no comment
        #expect(try load(text).detector.rule.threshold == 3)  // comments do not stop it reading back
    }

    @Test func printedJSONIsNested() throws {
        let text = EffectiveConfiguration.render(TokentrailSettings(), format: .json)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let rule = try #require(object["rule"] as? [String: Any])
        #expect(rule["threshold"] as? Int == 2)
        #expect(rule["window_size"] as? String == "30m")
        let create = try #require((object["topics"] as? [String: Any])?["create"] as? [String: Any])
        #expect(create["replication_factor"] as? Int == 1)
        #expect((object["kafka"] as? [String: Any])?["bootstrap.servers"] as? String == "127.0.0.1:9092")
    }
}

/// Writes what a text handler would print: message, handler metadata, event metadata.
struct CapturingLogHandler: LogHandler {
    let sink: LogSink
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { sink.write("\(event.message) \(metadata) \(event.metadata ?? [:])") }
}

@Suite struct TextLogRedactionTests {
    @Test func textLogsAreScrubbedToo() throws {
        let sink = LogSink.capture()
        let redactor = SecretRedactor(secrets: ["s3cr3t-value"])
        var logger = Logger(label: "t") { _ in RedactingLogHandler(CapturingLogHandler(sink: sink), redactor: redactor) }
        logger[metadataKey: "handler"] = "x=s3cr3t-value"
        logger.warning("password s3cr3t-value rejected", metadata: ["event": "s3cr3t-value"])
        let line = try #require(sink.captured.first)
        #expect(!line.contains("s3cr3t-value"))
        #expect(line.contains("password **** rejected"))
    }
}
