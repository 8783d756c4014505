import ArgumentParser
import Enrichment
import Foundation
import KafkaClient
import Logging
import TokentrailCore

/// The flags that set configuration keys, shared by `run` and `check-config` so that
/// `check-config` shows exactly what `run` would use. Every flag is optional: a flag that is not
/// given leaves the key to the environment, the file and the defaults (in that order).
struct ConfigurationOptions: ParsableArguments {
    @Option(help: "YAML configuration file (else $TOKENTRAIL_CONFIG; else defaults only).")
    var config: String?

    @Option(help: "Kafka bootstrap servers (kafka.bootstrap.servers).")
    var bootstrapServers: String?
    @Option(name: .customLong("input-topic"), help: "Topic with CloudTrail events (repeatable; topics.input).")
    var inputTopics: [String] = []
    @Option(help: "Topic the alerts go to (topics.output).")
    var outputTopic: String?
    @Option(help: "How alerts are written: native, ocsf or ecs (output.format).")
    var outputFormat: String?
    @Option(help: "Consumer group id; every process of one deployment uses the same (group_id).")
    var groupId: String?
    @Option(help: "Topic for records that cannot be decoded (topics.dead_letter).")
    var deadLetterTopic: String?
    @Flag(inversion: .prefixedNo, help: "The input is already keyed by the grouping key (rule.grouping_key): no repartition stage (input_keyed).")
    var inputKeyed: Bool?
    @Option(help: "at_least_once or exactly_once (processing_guarantee).")
    var processingGuarantee: String?
    @Option(help: "Stable id of this process (exactly_once: part of its transactional.id; instance_id).")
    var instanceId: String?
    @Option(help: "Consumer session timeout in milliseconds (session_timeout).")
    var sessionTimeoutMs: Int?
    @Option(help: "Pipelines (consumer-group members, one thread each) in this process (threads).")
    var threads: Int?
    @Option(help: "Commit interval in milliseconds (commit_interval).")
    var commitIntervalMs: Int?
    @Option(help: "Idle timeout in seconds: a caught-up, silent partition then follows the wall clock (time.idle_timeout).")
    var idleTimeoutSeconds: Int?
    @Option(help: "Maximum out-of-orderness in seconds (time.max_out_of_orderness).")
    var maxOutOfOrdernessSeconds: Int?
    @Option(help: "Seconds to finish in-flight work after SIGTERM before giving up (shutdown_timeout).")
    var shutdownTimeoutSeconds: Int?
    @Option(help: "Rule profile: seed or elastic-2026 (rule.profile); other rule.* keys still override it.")
    var profile: String?
    @Option(name: .customLong("geoip-city"), help: "MaxMind-format City database, .mmdb (enrichment.city_database).")
    var geoipCity: String?
    @Option(name: .customLong("geoip-asn"), help: "MaxMind-format ASN database, .mmdb (enrichment.asn_database).")
    var geoipAsn: String?
    @Option(help: "librdkafka property name=value, passed through (repeatable), e.g. security.protocol=SASL_SSL.")
    var kafka: [String] = []
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (logging.level).")
    var logLevel: String?
    @Option(help: "Log format: auto, json, text (logging.format).")
    var logFormat: String?
    @Option(help: "Address of the /metrics, /healthz, /readyz endpoint (metrics.address).")
    var metricsAddress: String?
    @Option(help: "Port of the /metrics, /healthz, /readyz endpoint (metrics.port).")
    var metricsPort: Int?

    /// The flags as the highest-precedence configuration layer.
    var layer: ConfigLayer {
        var l = ConfigLayer()
        func set(_ path: String, _ flag: String, _ value: String?) {
            if let value { l.set(path, .scalar(value), source: .flag(name: "--\(flag)")) }
        }
        if let b = bootstrapServers { l.setKafka("bootstrap.servers", .scalar(b), source: .flag(name: "--bootstrap-servers")) }
        if !inputTopics.isEmpty { l.set("topics.input", .list(inputTopics), source: .flag(name: "--input-topic")) }
        set("topics.output", "output-topic", outputTopic)
        set("output.format", "output-format", outputFormat)
        set("group_id", "group-id", groupId)
        set("topics.dead_letter", "dead-letter-topic", deadLetterTopic)
        set("input_keyed", "input-keyed", inputKeyed.map { String($0) })
        set("processing_guarantee", "processing-guarantee", processingGuarantee)
        set("instance_id", "instance-id", instanceId)
        set("session_timeout", "session-timeout-ms", sessionTimeoutMs.map { "\($0)ms" })
        set("threads", "threads", threads.map { String($0) })
        set("commit_interval", "commit-interval-ms", commitIntervalMs.map { "\($0)ms" })
        set("time.idle_timeout", "idle-timeout-seconds", idleTimeoutSeconds.map { $0 == 0 ? "off" : "\($0)s" })
        set("time.max_out_of_orderness", "max-out-of-orderness-seconds", maxOutOfOrdernessSeconds.map { "\($0)s" })
        set("shutdown_timeout", "shutdown-timeout-seconds", shutdownTimeoutSeconds.map { "\($0)s" })
        set("rule.profile", "profile", profile)
        set("enrichment.city_database", "geoip-city", geoipCity)
        set("enrichment.asn_database", "geoip-asn", geoipAsn)
        set("logging.level", "log-level", logLevel)
        set("logging.format", "log-format", logFormat)
        set("metrics.address", "metrics-address", metricsAddress)
        set("metrics.port", "metrics-port", metricsPort.map { String($0) })
        for p in kafka {
            let source = ConfigSource.flag(name: "--kafka")
            guard let eq = p.firstIndex(of: "="), eq != p.startIndex else {
                l.problems.append(ConfigProblem(path: "--kafka", value: SecretMasking.isSecret(p) ? SecretMasking.mask : "'\(p)'",
                                                problem: "is not name=value", allowed: "a librdkafka property, e.g. security.protocol=SASL_SSL",
                                                source: source))
                continue
            }
            l.setKafka(String(p[..<eq]), .scalar(String(p[p.index(after: eq)...])), source: source)
        }
        return l
    }

    /// For the commands that reach the cluster as `run` does (`alerts`, `replay`, `simulate`): the
    /// settings (warnings printed) and their Kafka configuration, under a client id of the command's
    /// own unless one is configured.
    func loadForCluster(clientID: String) throws -> (settings: TokentrailSettings, kafka: KafkaConfiguration) {
        let resolved = try load(environment: ProcessInfo.processInfo.environment)
        for w in resolved.warnings { printError("tokentrail: warning: \(w)") }
        var kafka = resolved.settings.pipelineConfiguration.kafka
        if resolved.settings.kafka["client.id"] == "tokentrail" { kafka.clientID = clientID }
        return (resolved.settings, kafka)
    }

    /// Defaults < file < environment < these flags; on a problem prints every one and exits 2.
    func load(environment: [String: String]) throws -> ResolvedConfiguration {
        do {
            return try ConfigurationLoader.load(configFile: config, environment: environment, flags: layer)
        } catch {
            printError("tokentrail: \(error)")
            throw ExitCode(2)
        }
    }
}

/// The rule, detector, GeoIP databases and exceptions file from the settings; a database that cannot
/// be opened or an exceptions file that is not valid is a configuration problem (exit 2), like any
/// other value that cannot work.
func makeDetection(_ resolved: ResolvedConfiguration, logger: Logger) throws -> DetectionSetup {
    let settings = resolved.settings
    do throws(DetectionSetupError) {
        return try settings.makeDetection(logger: logger)
    } catch {
        printError("tokentrail: \(ConfigurationError([error.problem(settings, sources: resolved.sources)]))")
        throw ExitCode(2)
    }
}

func printError(_ text: String) {
    var stderr = StandardError()
    print(text, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }
}
