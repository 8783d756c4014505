import Detection

/// Many observations in one repartition record.
///
/// The route stage used to send one Kafka record per observation. Per record, librdkafka allocates
/// and queues a message, reports its delivery, and parses, allocates and hands it over again on the
/// detect side, and the broker indexes it: for observations of ~150 bytes that per-record work cost
/// more than the observation itself (docs/performance.md). The route stage now collects the
/// observations of one poll batch per repartition partition and sends each partition's as one record.
///
/// Layout: magic 0x42 ('B'), version 0x01, then per observation its length (LEB128) and its
/// `Observation.encode()` bytes, to the end of the value. A single-observation record starts with
/// `Observation.encodingMagic` (0x4F) instead, and is still read; a watermark marker has no key.
///
/// Recovery is unchanged: every observation of a batch carries the batch record's offset, a commit
/// falls between records, so a batch is replayed (or suppressed below the checkpoint) as a whole.
/// A rolling upgrade must deploy readers first: an older detect stage dead-letters batch records.
struct ObservationBatch {
    static let magic: UInt8 = 0x42
    static let version: UInt8 = 1

    private(set) var bytes: [UInt8] = []
    private(set) var count = 0

    /// Records past this many bytes are sent at once (far below the producer's message.max.bytes).
    static let targetBytes = 256 * 1024

    mutating func append(_ encoded: [UInt8]) {
        if bytes.isEmpty {
            bytes.reserveCapacity(4096)
            bytes.append(Self.magic)
            bytes.append(Self.version)
        }
        Self.appendVarint(UInt64(encoded.count), to: &bytes)
        bytes.append(contentsOf: encoded)
        count += 1
    }


    static func isBatch(_ value: UnsafeRawBufferPointer) -> Bool { value.first == magic }

    enum DecodingError: Error, CustomStringConvertible {
        case unsupportedVersion(UInt8)
        case truncated
        case observation(index: Int, ObservationDecodingError)

        var description: String {
            switch self {
            case .unsupportedVersion(let v): "unsupported observation batch version \(v)"
            case .truncated: "truncated observation batch"
            case .observation(let i, let e): "observation \(i) of the batch: \(e)"
            }
        }
    }

    /// Every observation of a batch record, or an error if any part is unreadable (then none is used).
    static func decode(_ value: UnsafeRawBufferPointer, into out: inout [Observation]) throws(DecodingError) {
        out.removeAll(keepingCapacity: true)
        guard value.count >= 2 else { throw .truncated }
        guard value[1] == version else { throw .unsupportedVersion(value[1]) }
        var position = 2
        var index = 0
        while position < value.count {
            let length = try readVarint(value, &position)
            guard length <= UInt64(value.count - position) else { throw .truncated }
            let end = position + Int(length)
            do {
                out.append(try Observation(decoding: UnsafeRawBufferPointer(rebasing: value[position..<end])))
            } catch {
                throw .observation(index: index, error)
            }
            position = end
            index += 1
        }
        guard index > 0 else { throw .truncated }
    }

    private static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    private static func readVarint(_ bytes: UnsafeRawBufferPointer, _ position: inout Int) throws(DecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            guard shift < 64 else { throw .truncated }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        throw .truncated
    }
}
