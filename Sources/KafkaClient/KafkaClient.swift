import CRdKafka
/// The Swift face of librdkafka.
public enum KafkaClientModule {}
