import ArgumentParser
import CoreMetrics
import Detection
import Dispatch
import Foundation
import KafkaClient
import Logging
import Pipeline
import Prometheus
import Synchronization
import TokentrailCore

/// `tokentrail run`: the detector as one member of a consumer group.
///
/// Configuration: defaults < `--config` file (or `$TOKENTRAIL_CONFIG`) < `TOKENTRAIL_*`
/// environment < flags (docs/configuration.md). A configuration problem exits 2 before anything
/// connects; a runtime failure exits 1.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the detector as a Kafka consumer-group member (SIGTERM/SIGINT stop it cleanly).")

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let resolved = try options.load(environment: ProcessInfo.processInfo.environment)
        var settings = resolved.settings
        // Exactly-once without a configured instance_id: a slot of this host, so that two processes
        // on one host never share a transactional.id (one would fence the other).
        let slot = settings.instanceID == nil && settings.processingGuarantee == .exactlyOnce
            ? InstanceSlot.acquire(group: settings.groupID) : nil
        if let slot { settings.instanceID = slot.instanceID }
        let redactor = SecretRedactor(secrets: SecretMasking.secretValues(settings))
        LoggingSetup.bootstrap(settings.logging, redactor: redactor)
        var logger = Logger(label: "tokentrail")
        logger.logLevel = settings.logging.level
        logger.info("tokentrail \(Product.version)", metadata: [
            "librdkafka": "\(Librdkafka.version)",
            "config": "\(ConfigurationLoader.configFilePath(flag: options.config, environment: ProcessInfo.processInfo.environment) ?? "(defaults)")",
            "kafka": "\(SecretMasking.masked(settings.kafka).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))",
        ])
        for w in resolved.warnings { logger.warning("configuration: \(w)") }
        if let slot {
            if let file = slot.lockFile {
                logger.info("instance id from this host's slots", metadata: ["instance_id": "\(slot.instanceID)", "lock": "\(file)"])
            } else {
                logger.warning("no instance slot could be locked in the temporary directory: this instance id is unique but not stable across restarts; set instance_id",
                               metadata: ["instance_id": "\(slot.instanceID)"])
            }
        }
        if Librdkafka.hasTaggedFieldsDefect {
            logger.warning("librdkafka \(Librdkafka.version) < 2.2 mis-skips tagged protocol fields (librdkafka PR #4278): upgrade")
        }

        let setup = try makeDetection(resolved, logger: logger)
        logger.info("rule", metadata: [
            "profile": "\(settings.ruleProfile)",
            "geoip": "\(setup.enricher?.loadedDatabases.joined(separator: ", ") ?? "none")",
            "exceptions": "\(setup.exceptions.map { "\($0.path) (\($0.names.count))" } ?? "none")",
        ])

        let metrics = PipelineMetrics(version: Product.version, librdkafka: Librdkafka.version)
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))
        let readiness = Readiness(staleAfter: Readiness.staleBound(commitInterval: settings.commitInterval))
        let liveness = Liveness(pipelines: settings.threads, timeout: settings.metrics.livenessTimeout)
        var server: OpsServer?
        if settings.metrics.enabled {
            do {
                server = try OpsServer(host: settings.metrics.address, port: settings.metrics.port,
                                       routes: OpsRoutes(metrics: metrics, readiness: readiness, liveness: liveness), logger: logger)
            } catch {
                // A port someone chose must be served or the start fails; the default port is
                // best effort, so that several processes on one host (tests, a laptop demo) still run.
                let chosen = resolved.sources["metrics.port"] ?? resolved.sources["metrics.address"]
                let problem = ConfigProblem(path: "metrics.port", value: "\(settings.metrics.address):\(settings.metrics.port)",
                                            problem: "cannot be listened on: \(error)", allowed: "a free port on a local address", source: chosen)
                guard chosen == nil else {
                    printError("tokentrail: \(ConfigurationError([problem]))")
                    throw ExitCode(2)
                }
                logger.error("no metrics or health endpoint: \(problem)")
            }
        }
        defer { server?.stop() }

        let stop = StopSignal()
        stop.install(logger: logger, shutdownTimeout: settings.shutdownTimeout, onSignal: { readiness.stopping(); liveness.stop() })
        // `threads` pipelines, each its own group member (consumer, producer, thread), made here one
        // after the other so that a configuration error stops the start before anything runs.
        let failure = PipelineFailure()
        let shouldStop: @Sendable () -> Bool = { stop.isSet || failure.isSet }
        var pipelines: [DetectorPipeline] = []
        do {
            let statistics = LibrdkafkaStatistics(metrics: metrics)
            for index in 0..<settings.threads {
                var configuration = settings.pipelineConfiguration(setup)
                configuration.threadIndex = index
                let label = settings.threads > 1 ? index : nil
                configuration.statistics = { statistics.publish(json: $0, pipeline: label) }
                var threadLogger = logger
                if settings.threads > 1 { threadLogger[metadataKey: "thread"] = "\(index)" }
                pipelines.append(try DetectorPipeline(configuration: configuration, logger: threadLogger, until: shouldStop))
            }
        } catch let e as KafkaError {
            if let problem = KafkaPropertyCheck.problem(for: e, redactor: redactor) {
                printError("tokentrail: \(ConfigurationError([problem]))")
                throw ExitCode(2)
            }
            logger.critical("could not start: \(e)")
            throw ExitCode(1)
        } catch {
            logger.critical("could not start: \(error)")
            throw ExitCode(1)
        }
        readiness.pipelineStarted()
        let enricher = setup.enricher
        let exceptions = setup.exceptions
        if let exceptions { metrics.publish(exceptions: exceptions) }
        let snapshots = PipelineSnapshots(pipelines: pipelines.count)
        for (index, pipeline) in pipelines.enumerated() {
            pipeline.onProgress = { liveness.beat(index) }
            pipeline.onCommit = { snapshot in
                snapshots.record(snapshot, from: index) { combined, oldestCommit in
                    metrics.publish(combined)
                    if let enricher { metrics.publish(geoIP: enricher.statistics) }
                    if let exceptions { metrics.publish(exceptions: exceptions) }
                    if let oldestCommit { readiness.committed(ownedPartitions: combined.owned, joined: combined.joined, at: oldestCommit) }
                }
            }
        }
        // Pipeline 0 runs on this thread, the others on their own; one failing stops them all.
        let finished = DispatchGroup()
        let runLogger = logger
        for pipeline in pipelines.dropFirst() {
            let handOver = HandOver(pipeline)
            finished.enter()
            let thread = Thread {
                failure.run(handOver.pipeline, until: shouldStop, logger: runLogger)
                finished.leave()
            }
            thread.name = "pipeline-\(pipeline.configuration.threadIndex)"
            thread.stackSize = 8 << 20
            thread.start()
        }
        failure.run(pipelines[0], until: shouldStop, logger: logger)
        finished.wait()
        readiness.stopping()
        if failure.isSet { throw ExitCode(1) }
    }
}

/// Whether any pipeline stopped on an error (the others then stop too, and the process exits 1).
final class PipelineFailure: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }

    func run(_ pipeline: DetectorPipeline, until stop: @escaping @Sendable () -> Bool, logger: Logger) {
        do {
            try pipeline.run(until: stop)
        } catch {
            var logger = logger
            if pipeline.configuration.threadIndex > 0 { logger[metadataKey: "thread"] = "\(pipeline.configuration.threadIndex)" }
            logger.critical("stopped on error: \(error)")
            flag.store(true, ordering: .releasing)
        }
    }
}

/// Moves a pipeline to the thread that runs it; nothing else touches it afterwards.
private struct HandOver: @unchecked Sendable {
    let pipeline: DetectorPipeline
    init(_ pipeline: DetectorPipeline) { self.pipeline = pipeline }
}

/// SIGTERM/SIGINT ask the pipeline to stop; a second signal, or the shutdown bound passing, exits at once.
final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }

    func install(logger: Logger, shutdownTimeout: Duration, onSignal: @escaping @Sendable () -> Void = {}) {
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                if isSet {
                    logger.warning("second signal: exiting now")
                    exit(1)
                }
                logger.notice("signal \(sig): stopping")
                onSignal()
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
