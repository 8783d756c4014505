public import KafkaClient
public import Logging

/// The service: one consumer, one producer, one thread, on librdkafka. It creates the clients and any
/// missing topics, then runs `PipelineRunner` (the run loop, the stages and the commit protocol) on
/// them. N identical processes with the same group share all of the work.
public final class DetectorPipeline {
    public let configuration: PipelineConfiguration
    private let runner: PipelineRunner<KafkaConsumer, KafkaProducer>

    /// Creates the clients and any missing topics. `stop` ends the wait for input topics early.
    public init(configuration: PipelineConfiguration, logger: Logger, until stop: @escaping @Sendable () -> Bool = { false }) throws {
        self.configuration = configuration
        let admin = try KafkaAdmin(configuration: configuration.kafka, logger: logger)
        var consumerConfig = KafkaConsumerConfiguration(
            common: configuration.kafka, groupID: configuration.groupID,
            sessionTimeoutMilliseconds: configuration.sessionTimeoutMilliseconds)
        consumerConfig.isolationLevel = .readCommitted
        let consumer = try KafkaConsumer(configuration: consumerConfig, logger: logger, statistics: configuration.statistics)
        var producerConfig = KafkaProducerConfiguration(common: configuration.kafka)
        producerConfig.messageMaxBytes = max(1_000_000, configuration.deadLetterMaxBytes + 100_000)
        if configuration.processingGuarantee == .exactlyOnce {
            producerConfig.transactionalID = configuration.transactionalID
        }
        let deliveries = DeliveryTracker()
        let producer = try KafkaProducer(configuration: producerConfig, logger: logger, statistics: configuration.statistics, deliveryReport: { report in
            deliveries.reported(report.tag, error: report.error, record: report.record)
        })
        try TopicSetup.prepare(configuration: configuration, admin: admin, logger: logger, until: stop)
        let counts = try admin.partitionCounts()
        let checkpointTopic = configuration.effectiveCheckpointTopic
        let checkpoints = try CheckpointReader(
            kafka: configuration.kafka, topic: checkpointTopic, partitions: counts[checkpointTopic] ?? 1,
            group: configuration.groupID, logger: logger)
        runner = PipelineRunner(
            configuration: configuration, logger: logger,
            clients: .init(consumer: consumer, producer: producer, admin: admin, checkpoints: checkpoints, clock: SystemClock()),
            deliveries: deliveries, partitionCounts: counts)
    }

    /// Runs until `stop` is set, then commits, leaves the group and returns. Throws on a fatal error
    /// (nothing past the last commit is lost: a restart replays it).
    public func run(until stop: @escaping @Sendable () -> Bool) throws { try runner.run(until: stop) }

    /// Called after each commit with the counters (metrics, readiness).
    public var onCommit: ((PipelineSnapshot) -> Void)? {
        get { runner.hooks.onCommit }
        set { runner.hooks.onCommit = newValue }
    }

    /// Called on every turn of the run loop and of the waits that retry while the broker is away
    /// (liveness: a thread that stops calling it is wedged).
    public var onProgress: (() -> Void)? {
        get { runner.hooks.onProgress }
        set { runner.hooks.onProgress = newValue }
    }

    public var counters: PipelineCounters { runner.counters }
}
