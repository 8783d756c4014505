public import Logging

/// What a topic to create looks like. tansu reports no defaults, so give `retention.ms` explicitly.
public struct KafkaTopicSpec: Sendable, Hashable {
    public var name: String
    public var partitions: Int
    public var replicationFactor: Int
    public var config: [String: String]
    public init(name: String, partitions: Int, replicationFactor: Int = 1, config: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.config = config
    }
}

/// Topic metadata and creation, on a producer-type handle of its own.
public final class KafkaAdmin: Sendable {
    private let client: RDKafkaClient

    public init(configuration: KafkaConfiguration, logger: Logger) throws(KafkaError) {
        client = try RDKafkaClient.make(
            kind: .producer, properties: configuration.baseProperties + configuration.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            callbacks: RDKafkaCallbacks(logger: logger, statistics: nil, deliveryReport: nil,
                                        oauthBearer: configuration.oauthBearerTokenProvider))
    }

    /// Partition counts of every existing topic.
    public func partitionCounts(timeout: Duration = .seconds(10)) throws(KafkaError) -> [String: Int] {
        try client.partitionCounts(timeoutMilliseconds: Int32(clamping: timeout.milliseconds))
    }

    /// Creates the topics that do not exist yet; an existing topic is not an error.
    public func createTopics(_ topics: [KafkaTopicSpec], timeout: Duration = .seconds(30)) throws(KafkaError) {
        let errors = try client.createTopics(topics, timeoutMilliseconds: Int32(clamping: timeout.milliseconds))
        if let e = errors.values.first(where: { $0.code != .topicAlreadyExists }) { throw e }
    }
}
