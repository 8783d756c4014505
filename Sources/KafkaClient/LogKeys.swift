/// Log metadata keys, in one place so that log queries can rely on them.
public enum LogKeys {
    public static let librdkafkaFacility = "librdkafka.facility"
    public static let errorCode = "error.code"
    public static let partitions = "kafka.partitions"
    public static let topic = "kafka.topic"
    public static let partition = "kafka.partition"
    public static let offset = "kafka.offset"
    public static let groupID = "kafka.group_id"
}
