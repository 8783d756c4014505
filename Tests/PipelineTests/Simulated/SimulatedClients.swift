import Detection
import KafkaClient
@testable import Pipeline
import Simulation

extension KafkaError {
    static let simulatedTimeout = KafkaError(code: .timedOut, message: "simulated: broker away", isRetriable: true)
}

/// A group member on a `SimulatedCluster`, reading `read_committed`.
final class SimulatedConsumer: PipelineConsumer {
    let cluster: SimulatedCluster
    let member: String
    var rebalanceListener: (any KafkaRebalanceListener)?
    private var positions: [KafkaTopicPartition: Int64] = [:]
    /// Partitions whose end was reported at their current position.
    private var atEnd: Set<KafkaTopicPartition> = []

    init(cluster: SimulatedCluster, member: String) {
        self.cluster = cluster
        self.member = member
    }

    func subscribe(topics: [String]) throws(KafkaError) { cluster.group.join(member, topics: topics) }

    private var owned: [KafkaTopicPartition] { (cluster.group.owned[member] ?? []).sorted() }

    func next(timeout: Duration) throws(KafkaError) -> ConsumerEvent<InMemoryRecord>? {
        if cluster.isAway {
            cluster.clock.advance(timeout)
            return nil
        }
        if cluster.group.expelled.contains(member) {
            let lost = positions.keys.sorted()
            if !lost.isEmpty { rebalanceListener?.partitionsLost(lost) }
            positions = [:]
            atEnd = []
            cluster.group.rejoin(member)
        }
        let revoke = cluster.group.toRevoke(member)
        if !revoke.isEmpty {
            rebalanceListener?.partitionsRevoked(revoke)
            cluster.group.revoked(member)
            for tp in revoke { positions[tp] = nil; atEnd.remove(tp) }
        }
        if let assign = cluster.group.toAssign(member) {
            let starts = rebalanceListener?.partitionsAssigned(assign) ?? [:]
            for tp in assign {
                let start = starts[tp].map(\.rawValue) ?? cluster.committed[tp] ?? 0
                positions[tp] = start < 0 ? 0 : start
                atEnd.remove(tp)
            }
        }
        var order = owned
        order.shuffle(using: &cluster.random)
        for tp in order {
            guard let position = positions[tp] else { continue }
            switch cluster.fetch(tp, at: position) {
            case .record(let offset, let r):
                positions[tp] = offset + 1
                atEnd.remove(tp)
                return .record(InMemoryRecord(topic: tp.topic, partition: tp.partition, offset: offset,
                                              timestampMilliseconds: r.timestamp, key: r.key, value: r.value))
            case .end(let offset):
                positions[tp] = offset
                if atEnd.insert(tp).inserted { return .endOfPartition(tp) }
            }
        }
        cluster.clock.advance(timeout)
        return nil
    }

    private func checkOwned(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) {
        if cluster.isAway { throw .simulatedTimeout }
        let mine = cluster.group.owned[member] ?? []
        if let other = offsets.first(where: { !mine.contains($0.topicPartition) }) {
            throw KafkaError(code: KafkaError.Code(rawValue: 22, name: "ILLEGAL_GENERATION"),
                             message: "simulated: commit for \(other.topicPartition), not owned by \(member)")
        }
    }

    func commit(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) {
        try checkOwned(offsets)
        for tpo in offsets { cluster.committed[tpo.topicPartition] = tpo.offset.rawValue }
    }

    func commitAsync(_ offsets: [KafkaTopicPartitionOffset]) throws(KafkaError) { try commit(offsets) }

    func committed(_ partitions: [KafkaTopicPartition], timeout: Duration) throws(KafkaError) -> [KafkaTopicPartitionOffset] {
        if cluster.isAway { throw .simulatedTimeout }
        return partitions.map { KafkaTopicPartitionOffset($0, KafkaOffset(cluster.committed[$0] ?? KafkaOffset.invalid.rawValue)) }
    }

    func position(_ partitions: [KafkaTopicPartition]) throws(KafkaError) -> [KafkaTopicPartitionOffset] {
        partitions.map { KafkaTopicPartitionOffset($0, KafkaOffset(positions[$0] ?? KafkaOffset.invalid.rawValue)) }
    }

    func seek(_ offsets: [KafkaTopicPartitionOffset], timeout: Duration) throws(KafkaError) {
        for tpo in offsets {
            positions[tpo.topicPartition] = max(0, tpo.offset.rawValue)
            atEnd.remove(tpo.topicPartition)
        }
    }

    func watermarks(_ tp: KafkaTopicPartition, cached: Bool, timeout: Duration) throws(KafkaError) -> KafkaWatermarks {
        KafkaWatermarks(low: 0, high: cluster.endOffset(tp))
    }

    func close() throws(KafkaError) {
        let mine = owned
        if !mine.isEmpty { rebalanceListener?.partitionsRevoked(mine) }
        cluster.group.leave(member)
    }

    /// The process crashed: it leaves without a word (the group notices after its session timeout).
    func crash() { cluster.group.leave(member) }
}

/// A producer on a `SimulatedCluster`. Records are written at `send`; their delivery reports come
/// when the scheduler says (`deliver`) or at `flush`. Transactional when it has a transactional id.
final class SimulatedProducer: PipelineProducer {
    typealias Consumer = SimulatedConsumer
    let cluster: SimulatedCluster
    let transactionalID: String?
    private var epoch = 0
    private var transaction: Int?
    private var transactionOffsets: [KafkaTopicPartitionOffset] = []
    private var transactionFailed = false
    private var reports: [(tag: UInt64, error: KafkaError?, record: KafkaProducedRecord?)] = []
    private let report: (UInt64, KafkaError?, KafkaProducedRecord?) -> Void

    init(cluster: SimulatedCluster, transactionalID: String?, report: @escaping (UInt64, KafkaError?, KafkaProducedRecord?) -> Void) {
        self.cluster = cluster
        self.transactionalID = transactionalID
        self.report = report
    }

    private func checkFenced() throws(KafkaError) {
        if let id = transactionalID, epoch > 0, !cluster.isCurrent(id, epoch: epoch) {
            throw KafkaError(code: KafkaError.Code(rawValue: -144, name: "_FENCED"), message: "simulated: fenced", isFatal: true)
        }
    }

    func send(topic: String, partition: Int32?, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader],
              timestampMilliseconds: Int64?, tag: UInt64, queueFullTimeout: Duration) throws(KafkaError) {
        try checkFenced()
        if cluster.isAway {
            cluster.clock.advance(queueFullTimeout)
            throw KafkaError(code: .queueFull, message: "simulated: queue full")
        }
        if transactionalID != nil, transaction == nil {
            throw KafkaError(code: .invalidConfiguration, message: "simulated: send outside a transaction", isFatal: true)
        }
        let record = KafkaProducedRecord(topic: topic, key: key, value: value ?? [], headers: headers)
        if cluster.failingSends > 0, topic == cluster.failingTopic {
            cluster.failingSends -= 1
            transactionFailed = transactionalID != nil
            reports.append((tag, KafkaError(code: KafkaError.Code(rawValue: -192, name: "_MSG_TIMED_OUT"), message: "simulated: delivery failed"), record))
            return
        }
        let count = Int32(cluster.partitions(topic))
        let p = partition ?? key.map { KafkaPartitioner.consistentRandom(key: $0, partitions: count) } ?? 0
        cluster.append(SimulatedCluster.Record(key: key, value: value ?? [], timestamp: timestampMilliseconds, transaction: transaction),
                       to: KafkaTopicPartition(topic, p))
        reports.append((tag, nil, nil))
    }

    /// Delivers the first `count` reports (all when nil).
    func deliver(_ count: Int? = nil) {
        let n = min(count ?? reports.count, reports.count)
        let now = reports.prefix(n)
        reports.removeFirst(n)
        for r in now { report(r.tag, r.error, r.record) }
    }

    var undelivered: Int { reports.count }

    func flush(timeout: Duration) throws(KafkaError) {
        if cluster.isAway {
            cluster.clock.advance(timeout)
            throw .simulatedTimeout
        }
        deliver()
    }

    func initTransactions(timeout: Duration) throws(KafkaError) {
        guard let id = transactionalID else { return }
        epoch = cluster.initProducer(id)
    }

    func beginTransaction() throws(KafkaError) {
        try checkFenced()
        transaction = cluster.beginTransaction(transactionalID!)
        transactionOffsets = []
        transactionFailed = false
    }

    func sendOffsetsToTransaction(_ offsets: [KafkaTopicPartitionOffset], consumer: SimulatedConsumer, timeout: Duration) throws(KafkaError) {
        try checkFenced()
        if cluster.isAway { throw .simulatedTimeout }
        // The group coordinator checks the member's generation (KIP-447): a member the group dropped
        // cannot commit offsets in a transaction, which must then abort.
        let owned = cluster.group.owned[consumer.member] ?? []
        if let other = offsets.first(where: { !owned.contains($0.topicPartition) }) {
            throw KafkaError(code: KafkaError.Code(rawValue: 22, name: "ILLEGAL_GENERATION"),
                             message: "simulated: offsets for \(other.topicPartition), not owned by \(consumer.member)", requiresAbort: true)
        }
        transactionOffsets += offsets
    }

    func commitTransaction(timeout: Duration) throws(KafkaError) {
        try checkFenced()
        if cluster.isAway {
            cluster.clock.advance(.milliseconds(100))
            throw .simulatedTimeout
        }
        deliver()
        guard let t = transaction else { return }
        if transactionFailed {
            throw KafkaError(code: KafkaError.Code(rawValue: -192, name: "_MSG_TIMED_OUT"),
                             message: "simulated: a record of the transaction failed", requiresAbort: true)
        }
        cluster.end(t, committed: true, offsets: transactionOffsets)
        transaction = nil
    }

    func abortTransaction(timeout: Duration) throws(KafkaError) {
        try checkFenced()
        if cluster.isAway {
            cluster.clock.advance(.milliseconds(100))
            throw .simulatedTimeout
        }
        deliver()
        if let t = transaction { cluster.end(t, committed: false, offsets: []) }
        transaction = nil
        transactionFailed = false
    }

    func close(timeout: Duration) throws(KafkaError) { try flush(timeout: timeout) }
}

/// The checkpoint topic as `CheckpointReader` reads it: the newest record per key decides.
final class SimulatedCheckpoints: CheckpointStore {
    let cluster: SimulatedCluster
    let topic: String
    let group: String
    private(set) var unusable: [KafkaTopicPartition: String] = [:]

    init(cluster: SimulatedCluster, topic: String, group: String) {
        self.cluster = cluster
        self.topic = topic
        self.group = group
    }

    func checkpointPartition(for partition: Int32) -> Int32 { Int32(Int(partition) % max(1, cluster.partitions(topic))) }

    func latest(for requested: [KafkaTopicPartition]) throws -> [KafkaTopicPartition: PartitionCheckpoint] {
        if cluster.isAway { throw KafkaError.simulatedTimeout }
        let wanted = Dictionary(uniqueKeysWithValues: requested.map { (PartitionCheckpoint.key(group: group, topic: $0.topic, partition: $0.partition), $0) })
        var latest = LatestCheckpoints()
        for r in cluster.committedRecords(topic) {
            guard let key = r.key.map({ String(decoding: $0, as: UTF8.self) }), let tp = wanted[key] else { continue }
            latest.read(r.value, for: tp)
        }
        unusable = latest.unusable
        return latest.found
    }

    func close() {}
}

final class SimulatedMetadata: PartitionMetadata {
    let cluster: SimulatedCluster
    init(cluster: SimulatedCluster) { self.cluster = cluster }
    func partitionCounts(timeout: Duration) throws(KafkaError) -> [String: Int] {
        if cluster.isAway { throw .simulatedTimeout }
        return cluster.partitionCounts
    }
}
