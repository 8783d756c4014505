import Detection
import KafkaClient

/// Every input partition that exists, as the detect watermark needs them: the minimum is taken over
/// the markers of all of them (`UpstreamWatermark`), by their `WatermarkMarker.upstreamKey`.
struct InputPartitions {
    private var known: Set<KafkaTopicPartition> = []
    /// `WatermarkMarker.upstreamKey` of every known partition, in the order they were found.
    private(set) var keys: [String] = []

    /// Every partition of `topics`, from the metadata's partition counts.
    init(_ topics: [String], counts: [String: Int]) { add(topics, counts: counts) }

    func contains(topic: String, partition: Int32) -> Bool { known.contains(KafkaTopicPartition(topic, partition)) }

    /// Adds the partitions of `topics` not known yet; returns them.
    @discardableResult
    mutating func add(_ topics: [String], counts: [String: Int]) -> [KafkaTopicPartition] {
        let found = topics.flatMap { t in (0..<Int32(counts[t] ?? 0)).map { KafkaTopicPartition(t, $0) } }
        let added = found.filter { known.insert($0).inserted }
        keys += added.map { WatermarkMarker.upstreamKey(topic: $0.topic, partition: $0.partition) }
        return added
    }
}
