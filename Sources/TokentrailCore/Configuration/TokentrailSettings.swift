public import Detection
public import Enrichment
import Foundation
import KafkaClient
public import Logging
public import Pipeline

/// The effective configuration of one tokentrail process: defaults, then the file, the
/// environment and the flags (see `ConfigurationLoader`). Plain values; `pipelineConfiguration`
/// turns it into what `DetectorPipeline` takes.
public struct TokentrailSettings: Sendable, Hashable {
    /// The pipeline's defaults, which are the defaults of the settings that fill it (one place).
    private static let pipeline = PipelineConfiguration()

    /// librdkafka properties, verbatim. `bootstrap.servers` and `client.id` have defaults.
    public var kafka: [String: String] = [
        "bootstrap.servers": Self.pipeline.kafka.bootstrapServers, "client.id": Self.pipeline.kafka.clientID,
    ]
    public var groupID = Self.pipeline.groupID
    /// Nil: the host name (stable across restarts of one pod/VM, which exactly-once needs).
    public var instanceID: String?
    public var inputKeyed = Self.pipeline.inputKeyed
    public var processingGuarantee = Self.pipeline.processingGuarantee
    public var commitInterval = Self.pipeline.commitInterval
    public var tickInterval = Self.pipeline.tickInterval
    public var sessionTimeout: Duration = .milliseconds(Self.pipeline.sessionTimeoutMilliseconds)
    public var shutdownTimeout: Duration = .seconds(30)
    /// Pipelines (each a consumer-group member with its own thread, consumer and producer) in this process.
    public var threads = 1

    public var inputTopics = Self.pipeline.inputTopics
    public var outputTopic = Self.pipeline.outputTopic
    public var deadLetterTopic = Self.pipeline.deadLetterTopic
    public var repartitionTopic: String?
    public var checkpointTopic: String?
    public var createdTopicPartitions = Self.pipeline.createdTopicPartitions
    public var createdTopicReplicationFactor = Self.pipeline.createdTopicReplicationFactor
    public var createdTopicRetention: Duration = .milliseconds(Self.pipeline.createdTopicRetentionMilliseconds)
    public var deadLetterMaxBytes = Self.pipeline.deadLetterMaxBytes
    /// `output.format`: how alerts are written, on the output topic and by `scan`.
    public var outputFormat = Self.pipeline.alertFormat

    /// The `rule.profile` whose values `detector.rule` started from (`RuleConfiguration.profiles`).
    public var ruleProfile = "seed"
    public var detector = DetectorConfiguration(rule: .seed)
    /// `rule.exceptions_file`: a YAML list of exceptions (`ExceptionsFile`); nil: none.
    public var exceptionsFile: String?
    public var enrichment = EnrichmentSettings()
    public var awsMSKIAM = AWSMSKIAMSettings()

    public var metrics = MetricsSettings()
    public var logging = LoggingSettings()

    public init() {}

    public var effectiveInstanceID: String { instanceID ?? ProcessInfo.processInfo.hostName }

    /// What `DetectorPipeline` takes. `bootstrap.servers` and `client.id` go to their typed
    /// fields; every other `kafka` entry is passed through.
    public var pipelineConfiguration: PipelineConfiguration {
        var properties = kafka
        let bootstrap = properties.removeValue(forKey: "bootstrap.servers") ?? Self.pipeline.kafka.bootstrapServers
        let clientID = properties.removeValue(forKey: "client.id") ?? Self.pipeline.kafka.clientID
        var kafka = KafkaConfiguration(bootstrapServers: bootstrap, clientID: clientID, properties: properties)
        kafka.oauthBearerTokenProvider = awsMSKIAM.tokenProvider(environment: ProcessInfo.processInfo.environment,
                                                                 logger: Logger(label: "tokentrail.aws"))
        var c = PipelineConfiguration(
            kafka: kafka,
            inputTopics: inputTopics, outputTopic: outputTopic, groupID: groupID,
            deadLetterTopic: deadLetterTopic, inputKeyed: inputKeyed, processingGuarantee: processingGuarantee,
            instanceID: effectiveInstanceID, detector: detector)
        c.repartitionTopic = repartitionTopic
        c.checkpointTopic = checkpointTopic
        c.commitInterval = commitInterval
        c.tickInterval = tickInterval
        c.sessionTimeoutMilliseconds = Int(sessionTimeout.milliseconds)
        c.createdTopicPartitions = createdTopicPartitions
        c.createdTopicReplicationFactor = createdTopicReplicationFactor
        c.createdTopicRetentionMilliseconds = createdTopicRetention.milliseconds
        c.deadLetterMaxBytes = deadLetterMaxBytes
        c.alertFormat = outputFormat
        return c
    }
}

/// Amazon MSK IAM authentication (`aws_msk_iam.*`).
public struct AWSMSKIAMSettings: Sendable, Hashable {
    /// Nil: not used.
    public var region: String?
    public var profile: String?
    public init() {}
}

/// The GeoIP databases and their cache.
public struct EnrichmentSettings: Sendable, Hashable {
    public var cityDatabase: String?
    public var asnDatabase: String?
    public var cacheSize = 65_536
    public var reloadInterval: Duration = .seconds(60)
    public init() {}

    public var isConfigured: Bool { cityDatabase != nil || asnDatabase != nil }
}

/// Everything detection is built from, made in one place from the settings, so that every command
/// (`run`, `scan`, `tokentrail test`) gets the same rule, profile, enrichment and exceptions.
public struct DetectionSetup: Sendable {
    public var rule: DetectionRule
    public var detector: DetectorConfiguration
    /// Nil when no database is configured.
    public var enricher: GeoIPEnricher?
    /// Nil when `rule.exceptions_file` is not set.
    public var exceptions: ExceptionsFile?
}

/// A configured file that cannot be used when detection is built.
public enum DetectionSetupError: Error, Sendable {
    /// A GeoIP database that cannot be opened.
    case enrichment(EnrichmentError)
    /// An exceptions file that cannot be read or is not valid.
    case exceptions(ExceptionsFileError)

    /// As a configuration problem of the key that names the file.
    public func problem(_ settings: TokentrailSettings, sources: [String: ConfigSource] = [:]) -> ConfigProblem {
        switch self {
        case .enrichment(let error):
            let path = settings.enrichment.cityDatabase == error.path ? "enrichment.city_database" : "enrichment.asn_database"
            return ConfigProblem(path: path, value: "'\(error.path)'", problem: "cannot be opened: \(error.reason)",
                                 allowed: "a MaxMind-format .mmdb file", source: sources[path])
        case .exceptions(let error):
            return ConfigProblem(path: "rule.exceptions_file", value: "'\(error.file)'", problem: error.detail,
                                 allowed: error.allowed, source: sources["rule.exceptions_file"])
        }
    }
}

extension TokentrailSettings {
    /// Opens the configured GeoIP databases and exceptions file and builds the rule and the detector
    /// configuration. Throws when a configured file cannot be opened or is not valid.
    public func makeDetection(logger: Logger) throws(DetectionSetupError) -> DetectionSetup {
        var enricher: GeoIPEnricher?
        if enrichment.isConfigured {
            var c = GeoIPEnricher.Configuration(cityDatabase: enrichment.cityDatabase, asnDatabase: enrichment.asnDatabase)
            c.cacheCapacity = enrichment.cacheSize
            c.reloadCheckInterval = enrichment.reloadInterval
            do throws(EnrichmentError) {
                enricher = try GeoIPEnricher(c, logger: logger)
            } catch {
                throw .enrichment(error)
            }
        }
        var exceptions: ExceptionsFile?
        if let exceptionsFile {
            do throws(ExceptionsFileError) {
                exceptions = try ExceptionsFile(path: exceptionsFile, asnAvailable: enrichment.asnDatabase != nil,
                                                reloadCheckInterval: enrichment.reloadInterval, logger: logger)
            } catch {
                throw .exceptions(error)
            }
        }
        return DetectionSetup(rule: DetectionRule(detector.rule, enricher: enricher, exceptions: exceptions),
                              detector: detector, enricher: enricher, exceptions: exceptions)
    }

    /// `pipelineConfiguration` with the setup's enricher and rule, for `DetectorPipeline`.
    public func pipelineConfiguration(_ setup: DetectionSetup) -> PipelineConfiguration {
        var c = pipelineConfiguration
        c.detector = setup.detector
        c.enricher = setup.enricher
        c.rule = setup.rule
        return c
    }
}

/// Where `/metrics`, `/healthz` and `/readyz` are served.
public struct MetricsSettings: Sendable, Hashable {
    public var enabled = true
    /// Loopback by default: exposing the endpoint is a deployment decision (`0.0.0.0` in a pod).
    public var address = "127.0.0.1"
    /// 9464: the port OpenTelemetry's Prometheus exporter uses, free of Kafka's and Prometheus's own.
    public var port = 9464
    /// Above the longest wait a healthy pipeline thread makes without a turn of its loop: two 30 s
    /// flushes of a commit on a slow broker, a restore reading checkpoints.
    public var livenessTimeout: Duration = .seconds(300)
    public init() {}
}

public enum LogFormat: String, Sendable, Hashable, CaseIterable {
    /// JSON lines when stderr is not a terminal, text when it is.
    case auto
    case json
    case text
}

public struct LoggingSettings: Sendable, Hashable {
    public var level: Logger.Level = .info
    public var format: LogFormat = .auto
    public init() {}
}
