public import CloudTrail
public import Detection
import Foundation

/// `BatchScan` on several threads: the same alerts, byte for byte but `detected_at`, in the same
/// order, whatever the number of workers and the order of files.
///
/// `workers` decode threads take files one at a time from the list and run the decoder and the rule
/// on them; what the rule keeps goes, as encoded observations (the repartition topic's
/// `ObservationBatch`), to one of `workers` detector threads chosen by the grouping key's hash (the
/// issuer's, with `rule.suppression.by: issuer`, so that an incident's windows share a detector).
/// Every (grouping key, window) so lives in exactly one detector, and since a window's final alert
/// does not depend on the order of its events (see `BatchScan`), no state needs merging: at the end
/// each detector fires its windows in window order then grouping key, and those sorted lists are
/// merged on (window start, grouping key), the order one detector gives. File counts and bad-record
/// samples are kept per file and summed in the order of the file list.
///
/// Memory: one document per decode worker, at most `queueDepth` batches of ~256 KiB per detector in
/// flight, and the windows, each held once. `maxWindows` is split between the detectors (each holds
/// at most its share), so the configured bound holds for the process.
public final class ParallelScan {
    public let options: BatchScan.Options
    public let workers: Int
    private let rule: DetectionRule
    /// Observation batches waiting per detector before a decode worker waits.
    static let queueDepth = 4

    public init(options: BatchScan.Options, workers: Int, rule: DetectionRule? = nil) {
        precondition(workers >= 1)
        self.options = options
        self.workers = workers
        self.rule = rule ?? DetectionRule(BatchScan.detectorConfiguration(options).rule)
    }

    /// Scans `paths`. `progress` gets bytes read and events decoded (from any thread, one call at a
    /// time); `alert` gets `open` revisions as they happen (with `includeOpen`, from any thread, one
    /// call at a time) and then the final alerts, in window order then grouping key. Throws the
    /// `FileInputError` of the first file in list order that could not be read; alerts are then withheld.
    public func scan(
        paths: [String], progress: @escaping @Sendable (_ bytes: Int, _ events: Int) -> Void = { _, _ in },
        alert: @escaping @Sendable (Alert) -> Void
    ) throws -> ScanSummary {
        let shared = Shared(scan: self, paths: paths, progress: progress, alert: alert)
        let group = DispatchGroup()
        for d in 0..<workers {
            group.enter()
            start { shared.detect(shard: d); group.leave() }
        }
        let decoding = DispatchGroup()
        for _ in 0..<workers {
            group.enter()
            decoding.enter()
            start { shared.decode(); decoding.leave(); group.leave() }
        }
        decoding.wait()
        for queue in shared.queues { queue.close() }
        group.wait()

        if let failure = shared.failures.min(by: { $0.index < $1.index }) { throw failure.error }
        var summary = ScanSummary()
        for file in shared.files {
            summary.files += 1
            summary.bytes += file.bytes
            summary.events += file.events
            summary.matched += file.matched
            summary.rejected.merge(file.rejected, uniquingKeysWith: +)
            summary.badRecords += file.badRecords
            summary.badByReason.merge(file.badByReason, uniquingKeysWith: +)
            summary.badSamples += file.badSamples.prefix(options.badRecordSamples - summary.badSamples.count)
        }
        summary.alerts = shared.openCounts
        // Each detector's list is in (window start, grouping key) order, and a key lives in one detector
        // (an incident's alerts carry its first window's start and grouping key: one incident, one detector).
        let finals = shared.finals.joined().sorted {
            ($0.window.start.millisecondsSinceEpoch, $0.groupingKey) < ($1.window.start.millisecondsSinceEpoch, $1.groupingKey)
        }
        for a in finals {
            summary.alerts[a.status.rawValue, default: 0] += 1
            alert(a)
        }
        return summary
    }

    private func start(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// What one file gave, kept apart so that the summary does not depend on which worker read it when.
    struct FileResult {
        var bytes = 0
        var events = 0
        var matched = 0
        var rejected: [String: Int] = [:]
        var badRecords = 0
        var badByReason: [String: Int] = [:]
        var badSamples: [ScanSummary.BadRecord] = []
    }

    /// State the threads share; every mutable part behind `lock` or a queue.
    final class Shared: @unchecked Sendable {
        let scan: ParallelScan
        let paths: [String]
        let progress: @Sendable (Int, Int) -> Void
        let alert: @Sendable (Alert) -> Void
        let queues: [BoundedQueue<[UInt8]>]
        let lock = NSLock()
        var next = 0
        var files: [FileResult]
        var failures: [(index: Int, error: any Error)] = []
        var finals: [[Alert]]
        var openCounts: [String: Int] = [:]

        init(scan: ParallelScan, paths: [String], progress: @escaping @Sendable (Int, Int) -> Void,
             alert: @escaping @Sendable (Alert) -> Void) {
            self.scan = scan
            self.paths = paths
            self.progress = progress
            self.alert = alert
            queues = (0..<scan.workers).map { _ in BoundedQueue(capacity: ParallelScan.queueDepth) }
            files = Array(repeating: FileResult(), count: paths.count)
            finals = Array(repeating: [], count: scan.workers)
        }

        private func take() -> Int? {
            lock.lock()
            defer { lock.unlock() }
            guard failures.isEmpty, next < paths.count else { return nil }
            next += 1
            return next - 1
        }

        /// A decode worker: files until none is left, observations out by grouping key.
        func decode() {
            let options = scan.options
            let rule = scan.rule
            let decoder = CloudTrailDecoder(limits: .init(maxDecodedBytes: options.maxDocumentBytes), fields: DetectionRule.fieldsRead)
            var result = CloudTrailDecodeResult()
            let shards = queues.count
            // With suppression by issuer, every window of one issuer lives in one detector too.
            let byIssuer = options.detector.suppression.routesByIssuer
            var batches = [ObservationBatch](repeating: ObservationBatch(), count: shards)
            func send(_ shard: Int) {
                guard batches[shard].count > 0 else { return }
                queues[shard].push(batches[shard].bytes)
                batches[shard] = ObservationBatch()
            }
            while let index = take() {
                let path = paths[index]
                var file = FileResult()
                var reported = 0
                func noteBad(_ error: CloudTrailDecodingError) {
                    file.badRecords += 1
                    file.badByReason[error.reason.rawValue, default: 0] += 1
                    if file.badSamples.count < options.badRecordSamples {
                        file.badSamples.append(ScanSummary.BadRecord(path: path, error: error))
                    }
                }
                do {
                    try FileDocumentReader.read(path: path, maxDocumentBytes: options.maxDocumentBytes, progress: { n in
                        file.bytes += n
                        self.progress(n, file.events - reported)
                        reported = file.events
                    }) { item in
                        switch item {
                        case .problem(let error):
                            noteBad(error)
                        case .document(let bytes, let line):
                            result.removeAll()
                            let origin = EventOrigin(topic: path, partition: 0, offset: Int64(line))
                            let exceptions = rule.exceptionsInForce()  // once per document
                            decoder.decodeEach(bytes, into: &result) { event in
                                file.events += 1
                                switch rule.keep(event, exceptions: exceptions) {
                                case .success(let kept):
                                    file.matched += 1
                                    let shard = shards == 1 ? 0 : Int(Self.hash(kept.partitioningKeyUTF8(byIssuer: byIssuer)) % UInt64(shards))
                                    batches[shard].append(kept, origin: origin)
                                    if batches[shard].bytes.count >= ObservationBatch.targetBytes { send(shard) }
                                case .failure(let reason):
                                    file.rejected[reason.label, default: 0] += 1
                                }
                            }
                            for var error in result.errors {
                                error.line = line
                                noteBad(error)
                            }
                        }
                    }
                } catch {
                    lock.lock()
                    failures.append((index, error))
                    lock.unlock()
                }
                progress(0, file.events - reported)
                lock.lock()
                files[index] = file
                lock.unlock()
            }
            for shard in 0..<shards { send(shard) }
        }

        /// A detector: the windows of its share of grouping keys, fired at the end of the input.
        func detect(shard: Int) {
            var configuration = BatchScan.detectorConfiguration(scan.options)
            let shards = queues.count
            configuration.maxWindows = (configuration.maxWindows + shards - 1) / shards
            var detector = WindowedDetector(configuration)
            detector.assign(partition: BatchScan.partition, mode: .external)
            var offset: Int64 = 0
            var lent: [EncodedObservation] = []
            while let batch = queues[shard].pop() {
                let now = scan.options.clock ?? BatchScan.wallClock
                batch.withUnsafeBytes { bytes in
                    // Made by `ObservationBatch.append` in this process: it reads back.
                    do { try ObservationBatch.read(bytes, into: &lent) } catch { preconditionFailure("\(error)") }
                    for observation in lent {
                        offset += 1
                        let processed = detector.process(observation, partition: BatchScan.partition, offset: offset, now: now)
                        for a in processed.alerts { deliverOpen(a) }
                    }
                    lent.removeAll(keepingCapacity: true)
                }
            }
            let fired = detector.advance(partition: BatchScan.partition, externalWatermark: BatchScan.endOfInput(scan.options),
                                         now: scan.options.clock ?? BatchScan.wallClock)
            lock.lock()
            finals[shard] = fired
            lock.unlock()
        }

        private func deliverOpen(_ a: Alert) {
            lock.lock()
            defer { lock.unlock() }
            openCounts[a.status.rawValue, default: 0] += 1
            alert(a)
        }

        /// FNV-1a: which detector holds a grouping key (any fixed function would do).
        static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
            return h
        }
    }
}

/// A first-in first-out queue of at most `capacity` items: `push` waits while it is full, `pop`
/// while it is empty, and returns nil once it is closed and empty.
final class BoundedQueue<Item>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Item] = []
    private var head = 0
    private var closed = false
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func push(_ item: Item) {
        condition.lock()
        defer { condition.unlock() }
        while items.count - head >= capacity { condition.wait() }
        items.append(item)
        condition.broadcast()
    }

    func pop() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while items.count == head && !closed { condition.wait() }
        guard items.count > head else { return nil }
        let item = items[head]
        head += 1
        if head > 64 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        condition.broadcast()
        return item
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
