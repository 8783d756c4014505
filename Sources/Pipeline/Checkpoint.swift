import Detection
import Foundation
import KafkaClient
import Logging

/// What is stored per owned partition before its offset is committed, and read back on assignment.
///
/// Route partitions (unkeyed input) store where routing stopped and their watermark, so markers
/// never go back. Detect partitions store the detector's checkpoint and the latest upstream marker
/// per input partition, from which their watermark is the minimum.
struct PartitionCheckpoint: Codable, Sendable, Hashable {
    var version = 1
    var group: String
    var topic: String
    var partition: Int32
    /// The offset committed with this checkpoint, and where a restore seeks.
    var offset: Int64
    /// One past the last processed record: alerts replayed below it were already sent.
    var next: Int64?
    /// Milliseconds since the epoch.
    var watermark: Int64?
    /// Detect partitions of the repartition topic: latest marker per "topic/partition" of the input.
    var upstream: [String: WatermarkMarker]?
    /// Detect partitions with `rule.suppression`: the incidents, less what the replay rebuilds.
    /// A checkpoint that holds them is version 2, which an older build refuses (it would drop them).
    var incidents: SuppressionCheckpoint? {
        didSet { version = incidents == nil ? 1 : 2 }
    }

    /// Record key: one key per group, topic and partition (compaction keeps the latest).
    static func key(group: String, topic: String, partition: Int32) -> String { "\(group)|\(topic)|\(partition)" }
    var key: String { Self.key(group: group, topic: topic, partition: partition) }

    func encoded() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) }
    static func decode(_ bytes: [UInt8]) -> PartitionCheckpoint? { try? JSONDecoder().decode(Self.self, from: Data(bytes)) }

    /// The newest layout this build writes and reads: 1 without incidents, 2 with them.
    static let currentVersion = 2
    static let readableVersions = 1...currentVersion

    /// Why this checkpoint cannot be used, or nil: another version, or values no commit writes.
    var problem: String? {
        if !Self.readableVersions.contains(version) {
            return "version \(version), this build reads \(Self.readableVersions.lowerBound) to \(Self.readableVersions.upperBound)"
        }
        if version == 1, incidents != nil { return "version 1 with incidents, which only version 2 holds" }
        if offset < 0 { return "negative offset \(offset)" }
        if let next, next < offset { return "next offset \(next) below offset \(offset)" }
        return nil
    }

    /// Whether no watermark in it (its own, its upstream markers') is past `limit` (ms).
    func isWithin(_ limit: Int64) -> Bool {
        (watermark ?? .min) <= limit && (upstream ?? [:]).values.allSatisfy { $0.isWithin(limit) }
    }
}

extension WatermarkMarker {
    /// JSON, as every version has written it (a nil watermark is left out).
    func encoded() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) }
    static func decode(_ bytes: UnsafeRawBufferPointer) -> WatermarkMarker? {
        try? JSONDecoder().decode(Self.self, from: Data(bytes))
    }
}

/// The checkpoint records of partitions read in order: the newest record of a key decides. An unusable
/// one is reported, never passed over in favour of an older checkpoint (whose watermark would be behind
/// what was fired).
struct LatestCheckpoints {
    private(set) var found: [KafkaTopicPartition: PartitionCheckpoint] = [:]
    private(set) var unusable: [KafkaTopicPartition: String] = [:]

    mutating func read(_ value: [UInt8], for tp: KafkaTopicPartition) {
        let cp = PartitionCheckpoint.decode(value)
        if let cp, cp.problem == nil {
            found[tp] = cp
            unusable[tp] = nil
        } else {
            found[tp] = nil
            unusable[tp] = cp?.problem ?? "does not decode"
        }
    }
}

/// Reads the latest checkpoint of given partitions without scanning history: checkpoints of
/// partition p live in checkpoint partition p (mod its count), so the latest is near the end.
final class CheckpointReader {
    private let consumer: KafkaConsumer
    private let topic: String
    private let partitions: Int
    private let group: String
    /// How far back from the end to read. The newest record per key is among the last few: one
    /// commit writes one record per owned partition that maps here.
    private let tail: Int64 = 1_000
    /// Partitions whose newest checkpoint in the last `latest` call could not be used, and why.
    private(set) var unusable: [KafkaTopicPartition: String] = [:]

    init(kafka: KafkaConfiguration, topic: String, partitions: Int, group: String, logger: Logger) throws {
        var config = KafkaConsumerConfiguration(common: kafka, groupID: "\(group).checkpoint-reader")
        config.reportEndOfPartition = true
        self.consumer = try KafkaConsumer(configuration: config, logger: logger)
        self.topic = topic
        self.partitions = max(partitions, 1)
        self.group = group
    }

    func checkpointPartition(for partition: Int32) -> Int32 { Int32(Int(partition) % partitions) }

    /// The latest checkpoint per requested partition (absent where none was written).
    func latest(for requested: [KafkaTopicPartition], timeout: Duration = .seconds(20)) throws -> [KafkaTopicPartition: PartitionCheckpoint] {
        guard !requested.isEmpty else { return [:] }
        let wanted = Dictionary(uniqueKeysWithValues: requested.map { (PartitionCheckpoint.key(group: group, topic: $0.topic, partition: $0.partition), $0) })
        let cps = Set(requested.map { checkpointPartition(for: $0.partition) })
        var starts: [KafkaTopicPartitionOffset] = []
        for p in cps {
            let tp = KafkaTopicPartition(topic, p)
            // tansu answers ListOffsets(latest) short of the true end (by up to a batch): reading
            // from there to the end-of-partition event still covers the newest records.
            let marks = try consumer.watermarks(tp)
            starts.append(KafkaTopicPartitionOffset(tp, KafkaOffset(max(marks.low, marks.high - tail, 0))))
        }
        try consumer.assign(starts)
        defer { try? consumer.assign(nil) }
        var latest = LatestCheckpoints()
        defer { unusable = latest.unusable }
        var done = Set<Int32>()
        let deadline = ContinuousClock.now + timeout
        while done.count < cps.count {
            guard ContinuousClock.now < deadline else {
                throw KafkaError(code: .timedOut, message: "reading checkpoints from \(topic) took longer than \(timeout)")
            }
            switch try consumer.poll(timeout: .milliseconds(100)) {
            case .message(let m)?:
                guard let key = m.key.map({ String(decoding: $0, as: UTF8.self) }), let tp = wanted[key] else { continue }
                latest.read(m.value, for: tp)
            case .endOfPartition(let tp, _)?:
                done.insert(tp.partition)
            case .error(let e)?:
                if e.code == .unknownTopicOrPartition { return latest.found }
            case nil:
                continue
            }
        }
        return latest.found
    }

    func close() { try? consumer.close() }
}

