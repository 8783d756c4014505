public import KafkaClient
public import Logging
import Pipeline

/// Lets librdkafka judge the `kafka:` map without connecting: it builds a consumer and a producer
/// configured as the pipeline will configure them (property values are checked by
/// `rd_kafka_conf_set`, TLS material and cross-property rules by `rd_kafka_new`) and closes them
/// before they do anything. The error names the property; secret values are scrubbed from it.
public enum KafkaPropertyCheck {
    public static func check(_ settings: TokentrailSettings, logger: Logger) -> ConfigProblem? {
        let redactor = SecretRedactor(secrets: SecretMasking.secretValues(settings))
        var config = settings.pipelineConfiguration
        // The same client setup, without fetching credentials: checking properties reaches no AWS endpoint.
        if config.kafka.oauthBearerTokenProvider != nil {
            config.kafka.oauthBearerTokenProvider = { throw KafkaError(code: .invalidConfiguration, message: "no token while checking properties") }
        }
        do throws(KafkaError) {
            var consumerConfig = KafkaConsumerConfiguration(
                common: config.kafka, groupID: config.groupID, sessionTimeoutMilliseconds: config.sessionTimeoutMilliseconds)
            consumerConfig.isolationLevel = .readCommitted
            let consumer = try KafkaConsumer(configuration: consumerConfig, logger: logger)
            try? consumer.close()
            var producerConfig = KafkaProducerConfiguration(common: config.kafka)
            if config.processingGuarantee == .exactlyOnce {
                producerConfig.transactionalID = "\(config.groupID)-\(config.instanceID)"
            }
            let producer = try KafkaProducer(configuration: producerConfig, logger: logger)
            try? producer.close(timeout: .zero)
        } catch {
            return problem(for: error, redactor: redactor)
        }
        return nil
    }

    /// A configuration error from librdkafka (here or when `run` creates its clients) as a
    /// `ConfigProblem` naming the property; nil for errors that are not about configuration.
    public static func problem(for error: KafkaError, redactor: SecretRedactor) -> ConfigProblem? {
        guard error.code == .invalidConfiguration || error.code == .clientCreation else { return nil }
        let message = redactor.redact(error.message)
        // "librdkafka rejected property 'NAME': reason" (KafkaClient's RDKafkaConfig).
        var path = "kafka"
        if let start = message.range(of: "property '"), let end = message[start.upperBound...].firstIndex(of: "'") {
            path = "kafka.\(message[start.upperBound..<end])"
        }
        return ConfigProblem(path: path, problem: "rejected by librdkafka: \(message)",
                             allowed: "see librdkafka's CONFIGURATION.md for this property")
    }
}
