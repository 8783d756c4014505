import CloudTrail

/// Why bytes are not an `Observation`. Any bytes may arrive on the repartition topic.
public enum ObservationDecodingError: Error, Sendable, Hashable {
    case badMagic
    case unsupportedVersion(UInt8)
    case truncated
    case invalidAddressTag(UInt8)
    case invalidFlags(UInt8)
    case invalidUTF8
    case varintOverflow
    case trailingBytes(Int)
    case eventTimeOutOfRange(Int64)
}

/// Binary layout, version 1 (all integers LEB128 varints, signed ones zigzag):
///
///     magic 0x4F ('O'), version 0x01, flags,
///     address: tag 4 + 4 bytes | tag 6 + 16 bytes (network order) | tag 0,
///     eventTime (zigzag), origin.partition (zigzag), origin.offset (zigzag),
///     principalArn, principalType, accessKeyId, origin.topic,
///     [groupingKey unless a flag says it equals the ARN or the key], then the optionals in flag order.
///
/// flags: bit 0..5 accountId, userAgent, eventSource, eventName, awsRegion, eventID present;
/// bit 6 groupingKey == principalArn; bit 7 groupingKey == accessKeyId.
/// Version 2 is version 1 followed by the enrichment: a flags byte (bit 0..3: asn, AS organisation,
/// country, city present; other bits must be 0), then the asn (varint) and the strings in that order.
/// Version 3 is version 2 (its enrichment flags byte 0 when there is none) followed by the session
/// context: a flags byte (bit 0 issuer ARN, bit 1 creation time, bit 2 MFA known, bit 3 MFA true
/// (only with bit 2), bit 4 source identity; other bits must be 0), then the issuer (text), the
/// creation time (zigzag milliseconds) and the source identity (text), each when flagged.
/// Writers use the lowest version that holds the observation: 1 without enrichment and session
/// context (a deployment without GeoIP databases, reading events without a session context, writes
/// exactly what it wrote before), 2 with enrichment only, 3 with a session context; readers accept
/// all three (a version 1 or 2 record reads as having no session context).
/// A reader rejects an unknown version rather than guess, so a rolling upgrade must deploy readers first.
extension Observation {
    public static let encodingMagic: UInt8 = 0x4F
    /// The newest version written (and read); versions 1 and 2 are still read.
    public static let encodingVersion: UInt8 = 3

    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        // Room for everything, so `out` is allocated once and never regrown.
        out.reserveCapacity(encodedSizeBound)
        encode(into: &out)
        return out
    }

    /// At least the size of the encoding (a varint length takes at most 3 bytes below 2 MB).
    var encodedSizeBound: Int {
        @inline(__always) func size(_ text: String?) -> Int { text.map { $0.utf8.count + 3 } ?? 0 }
        var capacity = 3 + 17 + 3 * 10 + 1 + 5  // header, address, three varints, enrichment bits and asn
        capacity += size(principalArn) + size(principalType) + size(accessKeyId) + size(origin.topic) + size(groupingKey)
        capacity += size(accountId) + size(userAgent) + size(eventSource) + size(eventName) + size(awsRegion) + size(eventID)
        capacity += size(enrichment?.asOrganization) + size(enrichment?.countryCode) + size(enrichment?.city)
        capacity += 1 + 10 + size(session.issuerArn) + size(session.sourceIdentity)  // session flags, creation time
        return capacity
    }

    /// Appends what `encode()` returns to `out`.
    func encode(into out: inout [UInt8]) { Self.encode(self, into: &out) }

    /// The encoding of an observation, or of a kept event read in place (`LentObservation`): one
    /// writer for both, so the two cannot drift apart.
    static func encode(_ o: some ObservationSource, into out: inout [UInt8]) {
        // Field by field rather than through arrays: no allocation beyond `out`.
        @inline(__always) func has(_ field: ObservationText) -> Bool { o.withText(field) { _ in () } != nil }
        @inline(__always) func text(_ field: ObservationText) {
            _ = o.withText(field) { bytes in
                if bytes.count <= ValueCut.maxBytes {
                    appendUnsigned(UInt64(bytes.count), to: &out)
                    out.append(contentsOf: bytes)
                } else {
                    // A hostile value: cut, so that one event cannot make a repartition record too large.
                    appendUnsigned(UInt64(ValueCut.keptCount(bytes) + ValueCut.marker.count), to: &out)
                    ValueCut.append(bytes, to: &out)
                }
            }
        }
        var flags: UInt8 = has(.accountId) ? 1 : 0
        if has(.userAgent) { flags |= 2 }
        if has(.eventSource) { flags |= 4 }
        if has(.eventName) { flags |= 8 }
        if has(.awsRegion) { flags |= 16 }
        if has(.eventID) { flags |= 32 }
        flags |= o.groupingKeyFlag
        let enrichment = o.enrichment
        let createdAt = o.sessionCreatedAt
        let mfa = o.mfaAuthenticated
        var sessionBits: UInt8 = has(.sessionIssuerArn) ? 1 : 0
        if createdAt != nil { sessionBits |= 2 }
        if let mfa { sessionBits |= mfa ? 12 : 4 }
        if has(.sourceIdentity) { sessionBits |= 16 }
        out.append(Self.encodingMagic)
        out.append(sessionBits != 0 ? 3 : enrichment == nil ? 1 : 2)
        out.append(flags)
        switch o.address {
        case .ipv4(let v):
            out.append(4)
            Self.appendBigEndian(UInt64(v), bytes: 4, to: &out)
        case .ipv6(let high, let low):
            out.append(6)
            Self.appendBigEndian(high, bytes: 8, to: &out)
            Self.appendBigEndian(low, bytes: 8, to: &out)
        case .notAnAddress:
            out.append(0)
        }
        Self.appendSigned(o.eventTime.millisecondsSinceEpoch, to: &out)
        Self.appendSigned(Int64(o.origin.partition), to: &out)
        Self.appendSigned(o.origin.offset, to: &out)
        text(.principalArn)
        text(.principalType)
        text(.accessKeyId)
        text(.topic)
        if flags & 0b1100_0000 == 0 { text(.groupingKey) }
        text(.accountId)
        text(.userAgent)
        text(.eventSource)
        text(.eventName)
        text(.awsRegion)
        text(.eventID)
        if let e = enrichment {
            var bits: UInt8 = e.asn != nil ? 1 : 0
            if e.asOrganization != nil { bits |= 2 }
            if e.countryCode != nil { bits |= 4 }
            if e.city != nil { bits |= 8 }
            out.append(bits)
            if let asn = e.asn { Self.appendUnsigned(UInt64(asn), to: &out) }
            if let text = e.asOrganization { Self.append(text, to: &out) }
            if let text = e.countryCode { Self.append(text, to: &out) }
            if let text = e.city { Self.append(text, to: &out) }
        } else if sessionBits != 0 {
            out.append(0)  // version 3: no enrichment
        }
        if sessionBits != 0 {
            out.append(sessionBits)
            text(.sessionIssuerArn)
            if let createdAt { Self.appendSigned(createdAt.millisecondsSinceEpoch, to: &out) }
            text(.sourceIdentity)
        }
    }

    /// Decodes what `encode()` wrote. Throws for anything else, including an observation whose
    /// address is `.notAnAddress` (the rule never makes one; a forged record must not count).
    public init(decoding bytes: some Collection<UInt8>) throws(ObservationDecodingError) {
        self = try ByteReader.read(bytes, Self.decode).get()
    }

    /// Same as the generic form; concrete, so a caller in another module does not go through an
    /// unspecialised generic (the detect stage lends the record's bytes, which are read in place).
    public init(decoding bytes: UnsafeRawBufferPointer) throws(ObservationDecodingError) {
        self = try ByteReader.read(bytes, Self.decode).get()
    }

    public init(decoding bytes: [UInt8]) throws(ObservationDecodingError) {
        self = try ByteReader.read(bytes, Self.decode).get()
    }

    private static func decode(_ reader: inout ByteReader) throws(ObservationDecodingError) -> Observation {
        Observation(try EncodedObservation.read(&reader))
    }

    /// The observation an encoding read in place stands for: its strings made from checked bytes.
    init(_ e: EncodedObservation) {
        self.init(
            groupingKey: e.string(.groupingKey)!, principalArn: e.string(.principalArn)!,
            principalType: e.string(.principalType)!, accountId: e.string(.accountId), address: e.address,
            accessKeyId: e.string(.accessKeyId)!, userAgent: e.string(.userAgent), eventSource: e.string(.eventSource),
            eventName: e.string(.eventName), awsRegion: e.string(.awsRegion), eventTime: e.eventTime,
            eventID: e.string(.eventID),
            origin: e.origin, enrichment: e.enrichment,
            session: SessionFacts(issuerArn: e.string(.sessionIssuerArn), createdAt: e.sessionCreatedAt,
                                  mfaAuthenticated: e.mfaAuthenticated, sourceIdentity: e.string(.sourceIdentity))
        )
    }

    private static func appendBigEndian(_ value: UInt64, bytes: Int, to out: inout [UInt8]) {
        for i in stride(from: bytes - 1, through: 0, by: -1) {
            out.append(UInt8(truncatingIfNeeded: value >> UInt64(i * 8)))
        }
    }

    static func appendUnsigned(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func appendSigned(_ value: Int64, to out: inout [UInt8]) {
        appendUnsigned(UInt64(bitPattern: (value << 1) ^ (value >> 63)), to: &out)
    }

    private static func append(_ text: String, to out: inout [UInt8]) {
        appendUnsigned(UInt64(text.utf8.count), to: &out)
        out.append(contentsOf: text.utf8)
    }
}

/// Bounds-checked reading: every length is checked against what is left before anything is allocated.
/// Reads borrowed bytes in place; `read` lends them for the duration of one decode.
struct ByteReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    static func read<T>(
        _ bytes: UnsafeRawBufferPointer, _ body: (inout ByteReader) throws(ObservationDecodingError) -> T
    ) -> Result<T, ObservationDecodingError> {
        var reader = ByteReader(bytes.assumingMemoryBound(to: UInt8.self))
        do throws(ObservationDecodingError) { return .success(try body(&reader)) } catch { return .failure(error) }
    }

    static func read<T>(
        _ bytes: [UInt8], _ body: (inout ByteReader) throws(ObservationDecodingError) -> T
    ) -> Result<T, ObservationDecodingError> {
        bytes.withUnsafeBytes { read($0, body) }
    }

    static func read<T>(
        _ bytes: some Collection<UInt8>, _ body: (inout ByteReader) throws(ObservationDecodingError) -> T
    ) -> Result<T, ObservationDecodingError> {
        bytes.withContiguousStorageIfAvailable { read(UnsafeRawBufferPointer($0), body) }
            ?? read(Array(bytes), body)
    }

    var remaining: Int { bytes.count - position }

    mutating func byte() throws(ObservationDecodingError) -> UInt8 {
        guard position < bytes.count else { throw .truncated }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func bigEndian(bytes count: Int) throws(ObservationDecodingError) -> UInt64 {
        var value: UInt64 = 0
        for _ in 0..<count { value = value << 8 | UInt64(try byte()) }
        return value
    }

    mutating func unsigned() throws(ObservationDecodingError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64, shift < 63 || b <= 1 else { throw .varintOverflow }
            value |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return value }
            shift += 7
        }
    }

    mutating func signed() throws(ObservationDecodingError) -> Int64 {
        let raw = try unsigned()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    /// `previous` is returned instead of a new string when its bytes are the same.
    mutating func string(reusing previous: String? = nil) throws(ObservationDecodingError) -> String {
        let range = try text()
        let text = range.bytes(in: bytes)
        if let previous, previous.withUTF8Bytes({ String.compareBytes($0, text) == 0 }) { return previous }
        // `String(validating:)` over a slice takes the standard library's unspecialised generic
        // path; `UTF8Text` checks the bytes in place (ASCII eight at a time) and copies once.
        return UTF8Text.uncheckedString(text, isASCII: range.isASCII)
    }

    /// Where the next length-prefixed text is, once its bytes are checked to be UTF-8.
    mutating func text() throws(ObservationDecodingError) -> TextRange {
        let length = try unsigned()
        guard length <= UInt64(remaining) else { throw .truncated }
        let range = TextRange(start: Int32(position), count: Int32(length))
        position += Int(length)
        let text = range.bytes(in: bytes)
        let ascii = UTF8Text.isASCII(text)
        guard ascii || UTF8Text.isValid(text) else { throw .invalidUTF8 }
        return TextRange(start: range.start, count: range.count, isASCII: ascii)
    }
}

/// A text field of an encoded observation: where its bytes are in the record.
struct TextRange {
    var start: Int32
    var count: Int32
    var isASCII = true

    func bytes(in record: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: record[Int(start)..<Int(start + count)])
    }
}

/// An encoded observation read in place: `Observation(decoding:)` without its strings. Every check
/// of the decoding is made (a record it rejects is rejected here with the same error); its text is
/// then lent from the record, so the detector makes strings only for what a window keeps. Valid only
/// while the record's bytes are (inside `withValueBytes`).
public struct EncodedObservation: ObservationSource {
    let record: UnsafeBufferPointer<UInt8>
    let flags: UInt8
    let address: SourceAddress
    let eventTime: EventTime
    let origin: EventOrigin
    let enrichment: AddressEnrichment?
    let principalArn, principalType, accessKeyId, groupingKey: TextRange
    let optional: (accountId: TextRange?, userAgent: TextRange?, eventSource: TextRange?, eventName: TextRange?,
                   awsRegion: TextRange?, eventID: TextRange?)
    let sessionIssuerArn, sourceIdentity: TextRange?
    let sessionCreatedAt: EventTime?
    let mfaAuthenticated: Bool?

    /// Reads one encoded observation (the whole of `bytes`).
    /// `topic`: the previous observation's topic name, taken instead of a new string when the bytes
    /// are the same (a batch's observations mostly come from one input topic).
    public static func read(_ bytes: UnsafeRawBufferPointer, reusing topic: String? = nil) throws(ObservationDecodingError) -> EncodedObservation {
        try ByteReader.read(bytes, { (reader: inout ByteReader) throws(ObservationDecodingError) in try read(&reader, reusing: topic) }).get()
    }

    static func read(_ reader: inout ByteReader, reusing previousTopic: String? = nil) throws(ObservationDecodingError) -> EncodedObservation {
        guard try reader.byte() == Observation.encodingMagic else { throw .badMagic }
        let version = try reader.byte()
        guard (1...3).contains(version) else { throw .unsupportedVersion(version) }
        let flags = try reader.byte()
        guard flags & 0b1100_0000 != 0b1100_0000 else { throw .invalidFlags(flags) }
        let address: SourceAddress
        switch try reader.byte() {
        case 4: address = .ipv4(UInt32(try reader.bigEndian(bytes: 4)))
        case 6: address = .ipv6(high: try reader.bigEndian(bytes: 8), low: try reader.bigEndian(bytes: 8))
        // Tag 0 (`.notAnAddress`) is written but never accepted: such a record must not count.
        case let tag: throw .invalidAddressTag(tag)
        }
        let time = try reader.signed()
        guard EventTime.acceptedRange.contains(EventTime(millisecondsSinceEpoch: time)) else { throw .eventTimeOutOfRange(time) }
        let partition = try reader.signed()
        guard let partition32 = Int32(exactly: partition) else { throw .varintOverflow }
        let offset = try reader.signed()
        let arn = try reader.text()
        let type = try reader.text()
        let key = try reader.text()
        let topic = try reader.string(reusing: previousTopic)
        let groupingKey: TextRange
        if flags & Observation.groupingKeyIsArn != 0 {
            groupingKey = arn
        } else if flags & Observation.groupingKeyIsAccessKey != 0 {
            groupingKey = key
        } else {
            groupingKey = try reader.text()
        }
        let accountId = flags & 1 != 0 ? try reader.text() : nil
        let userAgent = flags & 2 != 0 ? try reader.text() : nil
        let eventSource = flags & 4 != 0 ? try reader.text() : nil
        let eventName = flags & 8 != 0 ? try reader.text() : nil
        let awsRegion = flags & 16 != 0 ? try reader.text() : nil
        let eventID = flags & 32 != 0 ? try reader.text() : nil
        var enrichment: AddressEnrichment?
        if version >= 2 {
            let bits = try reader.byte()
            guard bits & 0xF0 == 0 else { throw .invalidFlags(bits) }
            var e = AddressEnrichment()
            if bits & 1 != 0 {
                guard let asn = UInt32(exactly: try reader.unsigned()) else { throw .varintOverflow }
                e.asn = asn
            }
            if bits & 2 != 0 { e.asOrganization = try reader.string() }
            if bits & 4 != 0 { e.countryCode = try reader.string() }
            if bits & 8 != 0 { e.city = try reader.string() }
            // Version 3 writes a zero byte for no enrichment.
            if version == 2 || bits != 0 { enrichment = e }
        }
        var issuer: TextRange?, sourceIdentity: TextRange?, createdAt: EventTime?, mfa: Bool?
        if version == 3 {
            let bits = try reader.byte()
            // Bit 3 (MFA true) only with bit 2 (MFA known), and a version 3 record has a session context.
            guard bits & 0xE0 == 0, bits & 12 != 8, bits != 0 else { throw .invalidFlags(bits) }
            if bits & 1 != 0 { issuer = try reader.text() }
            if bits & 2 != 0 {
                let ms = try reader.signed()
                guard EventTime.acceptedRange.contains(EventTime(millisecondsSinceEpoch: ms)) else { throw .eventTimeOutOfRange(ms) }
                createdAt = EventTime(millisecondsSinceEpoch: ms)
            }
            if bits & 4 != 0 { mfa = bits & 8 != 0 }
            if bits & 16 != 0 { sourceIdentity = try reader.text() }
        }
        guard reader.remaining == 0 else { throw .trailingBytes(reader.remaining) }
        return EncodedObservation(
            record: reader.bytes, flags: flags, address: address,
            eventTime: EventTime(millisecondsSinceEpoch: time),
            origin: EventOrigin(topic: topic, partition: partition32, offset: offset), enrichment: enrichment,
            principalArn: arn, principalType: type, accessKeyId: key, groupingKey: groupingKey,
            optional: (accountId, userAgent, eventSource, eventName, awsRegion, eventID),
            sessionIssuerArn: issuer, sourceIdentity: sourceIdentity, sessionCreatedAt: createdAt, mfaAuthenticated: mfa)
    }

    var groupingKeyFlag: UInt8 { flags & (Observation.groupingKeyIsArn | Observation.groupingKeyIsAccessKey) }

    func withText<R>(_ field: ObservationText, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        if field == .topic { return origin.topic.withUTF8Bytes(body) }
        return range(field).map { body($0.bytes(in: record)) }
    }

    /// Copied from the checked bytes, without checking them again.
    func string(_ field: ObservationText) -> String? {
        if field == .topic { return origin.topic }
        return range(field).map { UTF8Text.uncheckedString($0.bytes(in: record), isASCII: $0.isASCII) }
    }

    private func range(_ field: ObservationText) -> TextRange? {
        switch field {
        case .principalArn: principalArn
        case .principalType: principalType
        case .accessKeyId: accessKeyId
        case .topic: nil
        case .groupingKey: groupingKey
        case .accountId: optional.accountId
        case .userAgent: optional.userAgent
        case .eventSource: optional.eventSource
        case .eventName: optional.eventName
        case .awsRegion: optional.awsRegion
        case .eventID: optional.eventID
        case .sessionIssuerArn: sessionIssuerArn
        case .sourceIdentity: sourceIdentity
        }
    }
}
