/// The order in which partitions' records leave the stream.
public enum PartitionOrder: String, Sendable, Hashable, CaseIterable {
    /// One global event-time order across partitions (how a live source produces).
    case interleaved
    /// All of partition 0, then all of 1, ...: the skew test, where one partition runs far ahead.
    case sequential
}

/// Malformed input the bad-input test mixes in; none of it is ever a valid event.
public enum BadRecordKind: String, Sendable, Hashable, CaseIterable {
    /// A real event cut in half (not well-formed JSON).
    case invalidJSON = "invalid_json"
    /// 64–512 random bytes.
    case randomBytes = "random_bytes"
    /// A 5 MiB event object without `eventTime`: bad under any size limit (too large or missing time).
    case oversized
    /// A `Records` batch of good events with one bad member; the good members are real events and count.
    case batchWithBadMember = "batch_with_bad_member"
}

/// How events become Kafka record values.
public struct RecordOptions: Sendable, Hashable {
    /// Events per record: 1 writes bare event objects, more writes `{"Records":[...]}` documents of
    /// up to that many events of one partition.
    public var batchSize: Int = 1
    /// Bad records to mix in, spread evenly over the stream, kinds in `BadRecordKind` order.
    public var badRecords: Int = 0
    public var order: PartitionOrder = .interleaved

    public init(batchSize: Int = 1, badRecords: Int = 0, order: PartitionOrder = .interleaved) {
        self.batchSize = batchSize
        self.badRecords = badRecords
        self.order = order
    }
}

/// One Kafka record to produce.
public struct SimulatedRecord: Sendable {
    public var value: [UInt8]
    /// The principal ARN for a single event of keyed traffic; nil otherwise.
    public var key: [UInt8]?
    public var partition: Int
    /// Good events inside (0 for a wholly bad record).
    public var eventCount: Int
    /// Set for injected bad input.
    public var badKind: BadRecordKind?
}

/// Turns a generator's events into records: batches, bad input, and partition order. Records never
/// contain a newline byte, so they can also be written as JSON lines. The oracle is unaffected:
/// it depends on the generator's events only, and every one of them is in exactly one record.
public struct RecordStream: Sequence, Sendable {
    public let generator: TrafficGenerator
    public let options: RecordOptions

    public init(generator: TrafficGenerator, options: RecordOptions) throws(SimulationError) {
        guard options.batchSize >= 1 else { throw SimulationError("batch size must be >= 1, got \(options.batchSize)") }
        guard options.badRecords >= 0 else { throw SimulationError("bad records must be >= 0, got \(options.badRecords)") }
        guard !(generator.configuration.keyed && options.batchSize > 1) else {
            throw SimulationError("keyed input cannot be batched: a Records document has no single principal to key it by")
        }
        self.generator = generator
        self.options = options
    }

    public func makeIterator() -> Iterator { Iterator(self) }

    public struct Iterator: IteratorProtocol, Sendable {
        let stream: RecordStream
        var source: TrafficGenerator.Iterator
        var currentPartition: Int
        var events = 0
        var badIndex = 0
        var buffers: [[[UInt8]]]
        var badMember: [Bool]
        var output: [SimulatedRecord] = []
        var outputIndex = 0
        var finished = false
        var rng: SplitMix64

        init(_ stream: RecordStream) {
            self.stream = stream
            let sequential = stream.options.order == .sequential
            source = sequential ? stream.generator.events(inPartition: 0).makeIterator() : stream.generator.makeIterator()
            currentPartition = 0
            let p = stream.generator.configuration.partitions
            buffers = Array(repeating: [], count: p)
            badMember = Array(repeating: false, count: p)
            rng = SplitMix64(seed: SplitMix64.mix(stream.generator.configuration.seed ^ 0xBAD0_0001))
        }

        public mutating func next() -> SimulatedRecord? {
            while outputIndex >= output.count {
                output.removeAll(keepingCapacity: true)
                outputIndex = 0
                if finished { return nil }
                step()
            }
            defer { outputIndex += 1 }
            return output[outputIndex]
        }

        /// Position (in emitted events) before which bad record `k` goes.
        func badPosition(_ k: Int) -> Int {
            let total = stream.generator.configuration.eventCount
            return (2 * k + 1) * total / (2 * stream.options.badRecords)
        }

        mutating func step() {
            let config = stream.generator.configuration
            guard let event = nextEvent() else {
                for p in buffers.indices { flush(p) }
                while badIndex < stream.options.badRecords { injectBad(partition: currentPartition) }
                for p in buffers.indices { flush(p) }
                finished = true
                return
            }
            while badIndex < stream.options.badRecords, badPosition(badIndex) <= events {
                injectBad(partition: event.partition)
            }
            events += 1
            let p = event.partition
            if stream.options.batchSize == 1, !badMember[p] {
                output.append(SimulatedRecord(
                    value: event.json, key: config.keyed ? event.principalArn.map { Array($0.utf8) } : nil,
                    partition: p, eventCount: 1, badKind: nil))
                return
            }
            buffers[p].append(event.json)
            if buffers[p].count >= Swift.max(stream.options.batchSize, badMember[p] ? 2 : 1) { flush(p) }
        }

        mutating func nextEvent() -> SimulatedEvent? {
            let partitions = stream.generator.configuration.partitions
            while true {
                if let e = source.next() { return e }
                guard stream.options.order == .sequential, currentPartition + 1 < partitions else { return nil }
                // Sequential: a partition's batches are complete before the next partition starts.
                flush(currentPartition)
                currentPartition += 1
                source = stream.generator.events(inPartition: currentPartition).makeIterator()
            }
        }

        mutating func injectBad(partition: Int) {
            let kind = BadRecordKind.allCases[badIndex % BadRecordKind.allCases.count]
            badIndex += 1
            switch kind {
            case .batchWithBadMember:
                badMember[partition] = true
            case .invalidJSON:
                output.append(bad(kind, partition, BadInput.truncatedEvent(&rng)))
            case .randomBytes:
                output.append(bad(kind, partition, BadInput.randomBytes(&rng)))
            case .oversized:
                output.append(bad(kind, partition, BadInput.oversized()))
            }
        }

        func bad(_ kind: BadRecordKind, _ partition: Int, _ value: [UInt8]) -> SimulatedRecord {
            SimulatedRecord(value: value, key: nil, partition: partition, eventCount: 0, badKind: kind)
        }

        mutating func flush(_ p: Int) {
            guard !buffers[p].isEmpty || badMember[p] else { return }
            var members = buffers[p]
            let goodCount = members.count
            let withBad = badMember[p]
            if withBad { members.insert(BadInput.badMember(&rng), at: Swift.min(1, members.count)) }
            var value = Array("{\"Records\":[".utf8)
            value.reserveCapacity(members.reduce(16) { $0 + $1.count + 1 })
            for (i, m) in members.enumerated() {
                if i > 0 { value.append(UInt8(ascii: ",")) }
                value.append(contentsOf: m)
            }
            value.append(contentsOf: "]}".utf8)
            output.append(SimulatedRecord(value: value, key: nil, partition: p, eventCount: goodCount,
                                          badKind: withBad ? .batchWithBadMember : nil))
            buffers[p].removeAll(keepingCapacity: true)
            badMember[p] = false
        }
    }
}

/// Bad input bodies.
enum BadInput {
    static let sample = Array(#"{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLEID:alice","arn":"arn:aws:sts::123456789012:assumed-role/deploy/alice","accountId":"123456789012","accessKeyId":"ASIAEXAMPLEKEY000001"},"eventTime":"2026-03-02T08:03:41Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7"}"#.utf8)

    static func truncatedEvent(_ rng: inout SplitMix64) -> [UInt8] {
        Array(sample.prefix(20 + rng.below(sample.count - 40)))
    }

    /// Random bytes without a newline (records double as JSON lines), starting with a byte no JSON
    /// document starts with, so no draw can ever be valid.
    static func randomBytes(_ rng: inout SplitMix64) -> [UInt8] {
        var bytes = (0..<(64 + rng.below(449))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for i in bytes.indices where bytes[i] == 0x0A { bytes[i] = 0x0B }
        bytes[0] = 0x80 | bytes[0]
        return bytes
    }

    static let oversizedBytes = 5 << 20

    static func oversized() -> [UInt8] {
        var value = Array(#"{"eventVersion":"1.09","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","requestParameters":{"policy":""#.utf8)
        let tail = Array(#""}}"#.utf8)
        value.append(contentsOf: repeatElement(UInt8(ascii: "A"), count: oversizedBytes - value.count - tail.count))
        value.append(contentsOf: tail)
        return value
    }

    /// A batch member that is well-formed JSON (so the rest of the batch still decodes) but no event.
    static func badMember(_ rng: inout SplitMix64) -> [UInt8] {
        switch rng.below(3) {
        case 0: return Array(#"{"eventVersion":"1.09","eventTime":"not-a-timestamp","eventName":"GetCallerIdentity"}"#.utf8)
        case 1: return Array(#"{"eventVersion":"1.09","eventTime":"2026-03-02T08:00:00Z","userIdentity":{"type":"AssumedRole","arn":42}}"#.utf8)
        default: return Array("42".utf8)
        }
    }
}
