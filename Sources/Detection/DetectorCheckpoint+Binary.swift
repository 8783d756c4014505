import CloudTrail

/// A small binary form of `DetectorCheckpoint` for the checkpoint topic, version 1:
/// magic 0x43 ('C'), version 0x01, flags (bit 0 watermark present, bit 1 nextOffset present),
/// safeOffset, [watermark ms], [nextOffset], all zigzag LEB128 varints.
extension DetectorCheckpoint {
    public func encode() -> [UInt8] {
        var out: [UInt8] = [0x43, 1, (watermark == nil ? 0 : 1) | (nextOffset == nil ? 0 : 2)]
        Observation.appendSigned(safeOffset, to: &out)
        if let watermark { Observation.appendSigned(watermark.millisecondsSinceEpoch, to: &out) }
        if let nextOffset { Observation.appendSigned(nextOffset, to: &out) }
        return out
    }

    public init(decoding bytes: some Collection<UInt8>) throws(ObservationDecodingError) {
        self = try ByteReader.read(bytes, Self.decode).get()
    }

    private static func decode(_ reader: inout ByteReader) throws(ObservationDecodingError) -> DetectorCheckpoint {
        guard try reader.byte() == 0x43 else { throw .badMagic }
        let version = try reader.byte()
        guard version == 1 else { throw .unsupportedVersion(version) }
        let flags = try reader.byte()
        guard flags & ~3 == 0 else { throw .invalidFlags(flags) }
        let safeOffset = try reader.signed()
        let watermark = flags & 1 != 0 ? EventTime(millisecondsSinceEpoch: try reader.signed()) : nil
        let nextOffset = flags & 2 != 0 ? try reader.signed() : nil
        guard reader.remaining == 0 else { throw .trailingBytes(reader.remaining) }
        return DetectorCheckpoint(safeOffset: safeOffset, watermark: watermark, nextOffset: nextOffset)
    }
}
