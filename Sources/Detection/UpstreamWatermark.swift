/// A route stage's statement about one input partition, broadcast to every repartition partition
/// with no key (observations always have one): its event-time watermark, and whether it is idle
/// (caught up and silent for `idle_timeout`), in which case it may follow the wall clock.
public struct WatermarkMarker: Codable, Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    /// Highest event time seen minus the out-of-orderness bound; nil before the first event.
    public var watermark: Int64?
    public var idle: Bool
    /// How long the partition has been idle, in milliseconds.
    public var idleMilliseconds: Int64
    /// The route stage's wall clock minus the out-of-orderness bound, when sent.
    public var wallWatermark: Int64

    public var upstreamKey: String { Self.upstreamKey(topic: topic, partition: partition) }

    /// Whether neither of its watermarks is past `limit` (ms): the wall clock plus `time.max_future_skew`.
    public func isWithin(_ limit: Int64) -> Bool { (watermark ?? .min) <= limit && wallWatermark <= limit }

    public init(topic: String, partition: Int32, watermark: Int64?, idle: Bool, idleMilliseconds: Int64, wallWatermark: Int64) {
        self.topic = topic
        self.partition = partition
        self.watermark = watermark
        self.idle = idle
        self.idleMilliseconds = idleMilliseconds
        self.wallWatermark = wallWatermark
    }

    /// The key a marker is kept under, per input partition: `<topic>/<partition>`.
    public static func upstreamKey(topic: String, partition: Int32) -> String { "\(topic)/\(partition)" }
}

/// The detect stage's watermark for one repartition partition: the minimum over every input
/// partition of what its latest marker allows.
///
/// - An active partition allows its event-time watermark; one that has not seen an event yet holds
///   the minimum back (its first events may be old: the skew case).
/// - An idle partition that has seen events follows the wall clock (the stream stopped: close windows).
/// - An idle partition that never saw an event follows the wall clock only when every input
///   partition is idle, or once it has been idle for `emptyPartitionTimeout` (a partition that
///   never gets data must not hold windows open for ever).
/// - While no input partition has seen an event, nothing moves.
public enum UpstreamWatermark {
    /// `upstream`: the latest marker per `upstreamKey`; `partitions`: the upstream key of every input
    /// partition that exists. Nil while some partition has no marker, or the rules above hold it.
    public static func minimum(
        _ upstream: [String: WatermarkMarker], over partitions: [String], emptyPartitionTimeout: Int64
    ) -> Int64? {
        var markers: [WatermarkMarker] = []
        markers.reserveCapacity(partitions.count)
        for key in partitions {
            guard let m = upstream[key] else { return nil }
            markers.append(m)
        }
        // Before any input partition has seen an event there is no window to close, and the first
        // events may be old (a backfill started after tokentrail): nothing moves yet.
        guard markers.contains(where: { $0.watermark != nil }) else { return nil }
        let allIdle = markers.allSatisfy(\.idle)
        var minimum = Int64.max
        for m in markers {
            let allowed: Int64
            if m.idle, m.watermark != nil || allIdle || m.idleMilliseconds >= emptyPartitionTimeout {
                allowed = max(m.watermark ?? .min, m.wallWatermark)
            } else if let w = m.watermark {
                allowed = w
            } else {
                return nil
            }
            minimum = min(minimum, allowed)
        }
        return minimum
    }
}
