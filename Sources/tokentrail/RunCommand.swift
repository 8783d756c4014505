public import ArgumentParser
import Detection
import Dispatch
import Foundation
import KafkaClient
import Logging
import Pipeline
import Synchronization

extension ProcessingGuarantee: ExpressibleByArgument {}

/// `tokentrail run`: the detector as one member of a consumer group.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the detector as a Kafka consumer-group member (SIGTERM/SIGINT stop it cleanly).")

    @Option(help: "Kafka bootstrap servers (librdkafka bootstrap.servers).")
    var bootstrapServers = "127.0.0.1:9092"
    @Option(name: .customLong("input-topic"), help: "Topic with CloudTrail events (repeatable).")
    var inputTopics: [String] = []
    @Option(help: "Topic the alerts go to.")
    var outputTopic = "tokentrail.alerts"
    @Option(help: "Consumer group id; every process of one deployment uses the same.")
    var groupId = "tokentrail"
    @Option(help: "Topic for records that cannot be decoded.")
    var deadLetterTopic = "tokentrail.dead-letter"
    @Flag(help: "The input is already keyed by principal ARN: no repartition stage.")
    var inputKeyed = false
    @Option(help: "at_least_once or exactly_once.")
    var processingGuarantee: ProcessingGuarantee = .atLeastOnce
    @Option(help: "Stable id of this process (exactly_once: part of its transactional.id).")
    var instanceId: String?
    @Option(help: "Consumer session timeout in milliseconds.")
    var sessionTimeoutMs = 45_000
    @Option(help: "Commit interval in milliseconds.")
    var commitIntervalMs = 2_000
    @Option(help: "Idle timeout in seconds: a caught-up, silent partition then follows the wall clock.")
    var idleTimeoutSeconds = 30
    @Option(help: "Maximum out-of-orderness in seconds (watermark = max event time - this).")
    var maxOutOfOrdernessSeconds = 300
    @Option(help: "Seconds to finish in-flight work after SIGTERM before giving up.")
    var shutdownTimeoutSeconds = 30
    @Option(help: "librdkafka property name=value, passed through (repeatable), e.g. security.protocol=SASL_SSL.")
    var kafka: [String] = []
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func run() throws {
        var logger = Logger(label: "tokentrail")
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level '\(logLevel)': allowed values are \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        logger.logLevel = level
        logger.info("tokentrail \(TokenTrail.version)", metadata: ["librdkafka": "\(Librdkafka.version)"])
        if Librdkafka.hasTaggedFieldsDefect {
            logger.warning("librdkafka \(Librdkafka.version) < 2.2 mis-skips tagged protocol fields (librdkafka PR #4278): upgrade")
        }
        var properties: [String: String] = [:]
        for p in kafka {
            guard let eq = p.firstIndex(of: "="), eq != p.startIndex else {
                throw ValidationError("--kafka '\(p)': expected name=value (a librdkafka property)")
            }
            properties[String(p[..<eq])] = String(p[p.index(after: eq)...])
        }
        var detector = DetectorConfiguration()
        detector.idleTimeout = .seconds(idleTimeoutSeconds)
        detector.maxOutOfOrderness = .seconds(maxOutOfOrdernessSeconds)
        var config = PipelineConfiguration(
            kafka: KafkaConfiguration(bootstrapServers: bootstrapServers, clientID: "tokentrail", properties: properties),
            inputTopics: inputTopics.isEmpty ? ["cloudtrail"] : inputTopics, outputTopic: outputTopic, groupID: groupId,
            deadLetterTopic: deadLetterTopic, inputKeyed: inputKeyed, processingGuarantee: processingGuarantee,
            instanceID: instanceId ?? ProcessInfo.processInfo.hostName, detector: detector)
        config.sessionTimeoutMilliseconds = sessionTimeoutMs
        config.commitInterval = .milliseconds(commitIntervalMs)

        let stop = StopSignal()
        stop.install(logger: logger, shutdownTimeout: .seconds(shutdownTimeoutSeconds))
        do {
            let pipeline = try DetectorPipeline(configuration: config, logger: logger)
            try pipeline.run(until: { stop.isSet })
        } catch {
            logger.critical("stopped on error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// SIGTERM/SIGINT ask the pipeline to stop; a second signal, or the shutdown bound passing, exits at once.
final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }

    func install(logger: Logger, shutdownTimeout: Duration) {
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                if isSet {
                    logger.warning("second signal: exiting now")
                    exit(1)
                }
                logger.notice("signal \(sig): stopping")
                flag.store(true, ordering: .releasing)
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(shutdownTimeout.components.seconds * 1000))) {
                    logger.critical("shutdown took longer than \(shutdownTimeout): exiting")
                    exit(1)
                }
            }
            source.resume()
            StopSignal.sources.append(source)
        }
    }

    /// Kept alive for the process's lifetime; written only from `install`, on the main thread.
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []
}
