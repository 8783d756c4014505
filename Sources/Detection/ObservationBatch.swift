/// Many observations in one repartition record.
///
/// Per Kafka record, librdkafka allocates and queues a message, reports its delivery, and parses,
/// allocates and hands it over again on the detect side, and the broker indexes it: for observations
/// of ~150 bytes that per-record work costs more than the observation itself. So the route stage
/// collects the observations of one poll batch per repartition partition and sends each partition's
/// as one record.
///
/// Layout: magic 0x42 ('B'), version 0x01, then per observation its length (LEB128; the writer
/// pads lengths below 16 KiB to two bytes) and its `Observation.encode()` bytes, to the end of the
/// value. A single-observation record starts with `Observation.encodingMagic` (0x4F) instead, and is
/// still read; a watermark marker has no key.
///
/// Recovery is unchanged: every observation of a batch carries the batch record's offset, a commit
/// falls between records, so a batch is replayed (or suppressed below the checkpoint) as a whole.
/// A rolling upgrade must deploy readers first: an older detect stage dead-letters batch records.
public struct ObservationBatch: Sendable {
    public static let magic: UInt8 = 0x42
    public static let version: UInt8 = 1

    /// The record value so far.
    public private(set) var bytes: [UInt8] = []
    public private(set) var count = 0

    public init() {}

    /// Records past this many bytes are sent at once (far below the producer's message.max.bytes).
    public static let targetBytes = 256 * 1024

    public mutating func append(_ encoded: [UInt8]) {
        startIfEmpty()
        Observation.appendUnsigned(UInt64(encoded.count), to: &bytes)
        bytes.append(contentsOf: encoded)
        count += 1
    }

    /// Appends `observation`, encoded in place behind its length (no array of its own). The length
    /// is written as a two-byte LEB128 varint when below 16 KiB, padded if smaller (`0x80 | n, 0x00`
    /// for n < 128: a valid varint every reader decodes), so it can be filled in after the encoding.
    public mutating func append(_ observation: Observation) {
        append(encoding: observation)
    }

    mutating func append(encoding observation: some ObservationSource) {
        startIfEmpty()
        let at = bytes.count
        bytes.append(0x80)
        bytes.append(0x00)
        Observation.encode(observation, into: &bytes)
        let length = bytes.count - at - 2
        if length < 1 << 14 {
            bytes[at] = UInt8(truncatingIfNeeded: length) | 0x80
            bytes[at + 1] = UInt8(truncatingIfNeeded: length >> 7)
        } else {
            var prefix: [UInt8] = []
            Observation.appendUnsigned(UInt64(length), to: &prefix)
            bytes.replaceSubrange(at..<(at + 2), with: prefix)
        }
        count += 1
    }

    private mutating func startIfEmpty() {
        guard bytes.isEmpty else { return }
        bytes.reserveCapacity(4096)
        bytes.append(Self.magic)
        bytes.append(Self.version)
    }


    public static func isBatch(_ value: UnsafeRawBufferPointer) -> Bool { value.first == magic }

    public enum DecodingError: Error, CustomStringConvertible {
        case unsupportedVersion(UInt8)
        case truncated
        case observation(index: Int, ObservationDecodingError)

        public var description: String {
            switch self {
            case .unsupportedVersion(let v): "unsupported observation batch version \(v)"
            case .truncated: "truncated observation batch"
            case .observation(let i, let e): "observation \(i) of the batch: \(e)"
            }
        }
    }

    /// Every observation of a batch record, or an error if any part is unreadable (then none is used).
    public static func decode(_ value: UnsafeRawBufferPointer, into out: inout [Observation]) throws(DecodingError) {
        out.removeAll(keepingCapacity: true)
        var lent: [EncodedObservation] = []
        try read(value, into: &lent)  // `Observation(decoding:)` is the same read, then the strings
        out.append(contentsOf: lent.lazy.map(Observation.init))
    }

    /// The same read in place (what `decode` makes its observations from, so the same checks and
    /// errors): lent from `value`, so valid only while `value` is.
    public static func read(_ value: UnsafeRawBufferPointer, into out: inout [EncodedObservation]) throws(DecodingError) {
        out.removeAll(keepingCapacity: true)
        guard value.count >= 2 else { throw .truncated }
        guard value[1] == version else { throw .unsupportedVersion(value[1]) }
        let buffer = value.assumingMemoryBound(to: UInt8.self)
        var reader = ByteReader(UnsafeBufferPointer(rebasing: buffer[2...]))
        var index = 0
        var topic: String?
        while reader.remaining > 0 {
            let length: UInt64
            do { length = try reader.unsigned() } catch { throw .truncated }
            guard length <= UInt64(reader.remaining) else { throw .truncated }
            let start = 2 + reader.position
            reader.position += Int(length)
            do throws(ObservationDecodingError) {
                let observation = try EncodedObservation.read(UnsafeRawBufferPointer(rebasing: value[start..<(start + Int(length))]),
                                                              reusing: topic)
                topic = observation.origin.topic
                out.append(observation)
            } catch {
                throw .observation(index: index, error)
            }
            index += 1
        }
        guard index > 0 else { throw .truncated }
    }
}
