import Detection
import KafkaClient
@testable import Pipeline
import Simulation

/// Virtual time, shared by a simulated cluster and the processes on it: a poll that finds nothing
/// waits its timeout, a retry's sleep passes at once, and the scheduler moves it on.
final class SimulatedClock: PipelineClock, @unchecked Sendable {
    private let base = ContinuousClock.now
    private let wallBase: Int64
    private(set) var elapsed: Duration = .zero
    init(wallMilliseconds: Int64) { wallBase = wallMilliseconds }
    var now: ContinuousClock.Instant { base + elapsed }
    var wallMilliseconds: Int64 { wallBase + elapsed.milliseconds }
    func sleep(_ duration: Duration) { advance(duration) }
    func advance(_ duration: Duration) { elapsed += duration }
}

/// An in-memory, deterministic Kafka for one consumer group: partitioned logs, transactions with
/// commit, abort and fencing by transactional id (a `read_committed` reader stops at an open
/// transaction and skips aborted records), committed offsets, a cooperative-incremental group,
/// and the faults a scheduler injects (outages, failed deliveries).
final class SimulatedCluster {
    struct Record {
        var key: [UInt8]?
        var value: [UInt8]
        var timestamp: Int64?
        /// The transaction it was written in; nil: not transactional.
        var transaction: Int?
    }
    enum TransactionState { case open, committed, aborted }

    let clock: SimulatedClock
    var random: SplitMix64
    private(set) var logs: [String: [[Record]]] = [:]
    private(set) var transactions: [TransactionState] = []
    /// The group's committed offsets.
    var committed: [KafkaTopicPartition: Int64] = [:]
    /// The newest producer epoch per transactional id, and its open transaction.
    private var epochs: [String: Int] = [:]
    private var open: [String: Int] = [:]
    let group = SimulatedGroup()
    /// The broker is away until then: calls time out, polls find nothing.
    var awayUntil: ContinuousClock.Instant?
    /// The next this many records sent to `failingTopic` fail delivery (a timed-out produce).
    var failingSends = 0
    var failingTopic = ""

    init(seed: UInt64, wallMilliseconds: Int64) {
        random = SplitMix64(seed: seed)
        clock = SimulatedClock(wallMilliseconds: wallMilliseconds)
    }

    var isAway: Bool { awayUntil.map { clock.now < $0 } ?? false }

    func createTopic(_ name: String, partitions: Int) {
        if logs[name] == nil { logs[name] = Array(repeating: [], count: partitions) }
    }

    var partitionCounts: [String: Int] { logs.mapValues(\.count) }

    func partitions(_ topic: String) -> Int { logs[topic]?.count ?? 0 }

    func endOffset(_ tp: KafkaTopicPartition) -> Int64 { Int64(logs[tp.topic]?[Int(tp.partition)].count ?? 0) }

    @discardableResult
    func append(_ record: Record, to tp: KafkaTopicPartition) -> Int64 {
        logs[tp.topic]![Int(tp.partition)].append(record)
        return Int64(logs[tp.topic]![Int(tp.partition)].count - 1)
    }

    enum Fetch {
        case record(Int64, Record)
        /// At the end a `read_committed` reader can see (the log's end, or an open transaction).
        case end(Int64)
    }

    /// What a `read_committed` reader at `offset` reads next.
    func fetch(_ tp: KafkaTopicPartition, at offset: Int64) -> Fetch {
        let log = logs[tp.topic]![Int(tp.partition)]
        var o = Int(offset)
        while o < log.count {
            let r = log[o]
            switch r.transaction.map({ transactions[$0] }) {
            case nil, .committed?: return .record(Int64(o), r)
            case .aborted?: o += 1
            case .open?: return .end(Int64(o))
            }
        }
        return .end(Int64(o))
    }

    /// Every record of `topic` a `read_committed` reader sees once all is settled.
    func committedRecords(_ topic: String) -> [Record] {
        (logs[topic] ?? []).flatMap { $0 }.filter { r in r.transaction.map { transactions[$0] == .committed } ?? true }
    }

    // MARK: transactions

    /// A producer with `id` starts (initTransactions): older epochs are fenced and their open
    /// transaction aborted. Returns the new epoch.
    func initProducer(_ id: String) -> Int {
        abortOpenTransaction(of: id)
        epochs[id, default: 0] += 1
        return epochs[id]!
    }

    func isCurrent(_ id: String, epoch: Int) -> Bool { epochs[id] == epoch }

    /// A newer producer with `id` fences the current one (a zombie hunter, or a restart elsewhere).
    func fence(_ id: String) {
        abortOpenTransaction(of: id)
        epochs[id, default: 0] += 1
    }

    func beginTransaction(_ id: String) -> Int {
        transactions.append(.open)
        open[id] = transactions.count - 1
        return transactions.count - 1
    }

    func end(_ transaction: Int, committed: Bool, offsets: [KafkaTopicPartitionOffset]) {
        transactions[transaction] = committed ? .committed : .aborted
        if committed { for tpo in offsets { self.committed[tpo.topicPartition] = tpo.offset.rawValue } }
        if let id = open.first(where: { $0.value == transaction })?.key { open[id] = nil }
    }

    /// The transaction a crashed process left open is aborted (its timeout, or its successor's fencing).
    func abortOpenTransaction(of id: String) {
        if let t = open[id] { end(t, committed: false, offsets: []) }
    }
}

/// A consumer group with the cooperative-incremental protocol: on a change of members each member
/// first revokes what it loses (inside its next poll), and once no revocation is outstanding each
/// is assigned what it gains. A member that crashes leaves without revoking.
final class SimulatedGroup {
    private(set) var members: [String] = []
    private var topics: [String] = []
    var owned: [String: Set<KafkaTopicPartition>] = [:]
    private var target: [String: Set<KafkaTopicPartition>] = [:]
    private var revoking: [String: Set<KafkaTopicPartition>] = [:]
    /// Members that have not been told of their first assignment yet (an empty one counts).
    private var joining: Set<String> = []
    /// Members the group dropped while they were alive (a missed session timeout): each finds out at
    /// its next poll that its partitions were lost, and joins again.
    private(set) var expelled: Set<String> = []
    var partitionCounts: () -> [String: Int] = { [:] }

    func join(_ member: String, topics: [String]) {
        self.topics = topics
        members.append(member)
        owned[member] = []
        joining.insert(member)
        rebalance()
    }

    /// A clean leave (after revoking in `close`) or a crash: either way its partitions are free.
    func leave(_ member: String) {
        members.removeAll { $0 == member }
        owned[member] = nil
        revoking[member] = nil
        target[member] = nil
        joining.remove(member)
        rebalance()
    }

    /// The member missed its session timeout: its partitions go to the others at once.
    func expel(_ member: String) {
        guard members.contains(member) else { return }
        leave(member)
        expelled.insert(member)
    }

    /// The expelled member noticed; it joins again (as a new generation).
    func rejoin(_ member: String) {
        expelled.remove(member)
        join(member, topics: topics)
    }

    private func rebalance() {
        let counts = partitionCounts()
        let all = topics.flatMap { t in (0..<Int32(counts[t] ?? 0)).map { KafkaTopicPartition(t, $0) } }.sorted()
        target = Dictionary(uniqueKeysWithValues: members.map { ($0, Set<KafkaTopicPartition>()) })
        let sorted = members.sorted()
        for (i, tp) in all.enumerated() where !sorted.isEmpty { target[sorted[i % sorted.count]]!.insert(tp) }
        for m in members { revoking[m] = owned[m, default: []].subtracting(target[m] ?? []) }
    }

    /// What `member` must revoke now.
    func toRevoke(_ member: String) -> [KafkaTopicPartition] { (revoking[member] ?? []).sorted() }

    func revoked(_ member: String) {
        owned[member]?.subtract(revoking[member] ?? [])
        revoking[member] = []
    }

    /// What `member` is assigned now: nothing while any revocation is outstanding, then what it gains
    /// that no one owns. Nil when there is nothing to tell it.
    func toAssign(_ member: String) -> [KafkaTopicPartition]? {
        guard revoking.values.allSatisfy(\.isEmpty) else { return nil }
        let taken = owned.filter { $0.key != member }.values.reduce(into: Set<KafkaTopicPartition>()) { $0.formUnion($1) }
        let gain = (target[member] ?? []).subtracting(owned[member] ?? []).subtracting(taken)
        guard !gain.isEmpty || joining.contains(member) else { return nil }
        joining.remove(member)
        owned[member, default: []].formUnion(gain)
        return gain.sorted()
    }
}
