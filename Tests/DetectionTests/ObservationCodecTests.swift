import CloudTrail
import Testing

@testable import Detection

@Suite("Observation binary codec")
struct ObservationCodecTests {
    static func sample(_ random: inout SeededRandom) -> Observation {
        func text(_ n: Int) -> String {
            String((0..<Int.random(in: 0...n, using: &random)).map { _ in
                ["a", "Z", "/", ":", "é", "漢", "🔑", "\"", "\0"].randomElement(using: &random)!
            })
        }
        let arn = "arn:aws:sts::1:assumed-role/" + text(40)
        let key = "ASIA" + text(16)
        let address: SourceAddress = Bool.random(using: &random)
            ? .ipv4(UInt32.random(in: 0...UInt32.max, using: &random))
            : .ipv6(high: random.next(), low: random.next())
        let grouping = [arn, key, text(10)].randomElement(using: &random)!
        func maybe(_ s: String) -> String? { Bool.random(using: &random) ? s : nil }
        let session = Bool.random(using: &random) ? SessionFacts() : SessionFacts(
            issuerArn: maybe("arn:aws:iam::1:role/" + text(30)),
            createdAt: Bool.random(using: &random) ? at(Int64.random(in: 0..<253_370_764_800_000, using: &random)) : nil,
            mfaAuthenticated: [nil, true, false].randomElement(using: &random)!, sourceIdentity: maybe(text(20)))
        return Observation(
            groupingKey: grouping, principalArn: arn, principalType: "AssumedRole", accountId: maybe(text(12)),
            address: address, accessKeyId: key, userAgent: maybe(text(200)), eventSource: maybe(text(20)),
            eventName: maybe(text(20)), awsRegion: maybe(text(12)),
            eventTime: at(Int64.random(in: 0..<253_370_764_800_000, using: &random)), eventID: maybe(text(36)),
            origin: EventOrigin(topic: text(20), partition: Int32.random(in: Int32.min...Int32.max, using: &random),
                                offset: Int64.random(in: Int64.min...Int64.max, using: &random)),
            session: session
        )
    }

    @Test func roundTripsGeneratedObservations() throws {
        var random = SeededRandom(seed: 7)
        for _ in 0..<500 {
            let o = Self.sample(&random)
            #expect(try Observation(decoding: o.encode()) == o)
        }
    }

    /// The detect stage reads repartition records in place (`EncodedObservation`): it must lend
    /// exactly the text the decoding makes, and reject exactly what it rejects, with the same error.
    @Test func readingInPlaceLendsWhatDecodingMakes() throws {
        let fields: [ObservationText] = [.principalArn, .principalType, .accessKeyId, .topic, .groupingKey,
                                         .accountId, .userAgent, .eventSource, .eventName, .awsRegion, .eventID,
                                         .sessionIssuerArn, .sourceIdentity]
        var random = SeededRandom(seed: 11)
        for _ in 0..<500 {
            let o = Self.sample(&random)
            let bytes = o.encode()
            try bytes.withUnsafeBytes { value in
                let e = try EncodedObservation.read(value)
                for field in fields { #expect(e.string(field) == o.string(field), "\(field)") }
                #expect(e.address == o.address && e.eventTime == o.eventTime && e.origin == o.origin)
                #expect(e.enrichment == o.enrichment)
                #expect(e.sessionCreatedAt == o.session.createdAt && e.mfaAuthenticated == o.session.mfaAuthenticated)
                #expect(e.groupingKeyFlag == o.groupingKeyFlag)
                #expect(Observation(e) == o)
            }
            // Every cut and a flipped byte: the same verdict both ways.
            for variant in [Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &random))),
                            bytes.enumerated().map { $0.offset == bytes.count / 2 ? $0.element ^ 0xC3 : $0.element }] {
                let decoded = Result { () throws(ObservationDecodingError) in try Observation(decoding: variant) }
                let read = variant.withUnsafeBytes { value in
                    Result { () throws(ObservationDecodingError) in Observation(try EncodedObservation.read(value)) }
                }
                #expect(read == decoded)
            }
        }
    }

    @Test func isCompact() {
        let o = observe(makeEvent(time: baseTime, address: ipv4("198.51.100.7")))
        let text = [o.principalArn, o.principalType, o.accessKeyId, o.origin.topic, o.accountId!, o.userAgent!,
                    o.eventSource!, o.eventName!, o.awsRegion!, o.eventID!].reduce(0) { $0 + $1.utf8.count }
        #expect(o.encode().count <= text + 32, "\(o.encode().count) bytes for \(text) bytes of text")
    }

    @Test func everyTruncationAndGarbageIsAnErrorNotACrash() throws {
        let bytes = observe(makeEvent(time: baseTime, address: .ipv6(high: 1, low: 2))).encode()
        for n in 0..<bytes.count {
            #expect(throws: ObservationDecodingError.self) { try Observation(decoding: bytes.prefix(n)) }
        }
        #expect(throws: ObservationDecodingError.trailingBytes(1)) { try Observation(decoding: bytes + [0]) }
        var wrongVersion = bytes
        wrongVersion[1] = 9
        #expect(throws: ObservationDecodingError.unsupportedVersion(9)) { try Observation(decoding: wrongVersion) }
        #expect(throws: ObservationDecodingError.badMagic) { try Observation(decoding: Array("{\"Records\":[]}".utf8)) }
        for time: Int64 in [-1, .min, .max, 253_370_764_800_000] {
            var o = observe(makeEvent(time: baseTime, address: ipv4("192.0.2.1")))
            o.eventTime = at(time)
            #expect(throws: ObservationDecodingError.eventTimeOutOfRange(time)) { try Observation(decoding: o.encode()) }
            var detector = WindowedDetector()
            #expect(detector.process(o, partition: 0, offset: 0, now: at(0)).outcome == .invalid, "no trap, no window")
            #expect(detector.statistics(partition: 0)?.invalid == 1)
        }
        var noAddress = observe(makeEvent(time: baseTime, address: ipv4("192.0.2.1")))
        noAddress.address = .notAnAddress
        #expect(throws: ObservationDecodingError.invalidAddressTag(0)) { try Observation(decoding: noAddress.encode()) }
        // A length claiming more than is there must not allocate or read past the end.
        #expect(throws: ObservationDecodingError.self) {
            try Observation(decoding: [0x4F, 1, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
        }

        var random = SeededRandom(seed: 99)
        var decoded = 0
        for _ in 0..<20_000 {
            var garbage = (0..<Int.random(in: 0..<64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            if garbage.count > 2, Bool.random(using: &random) { garbage[0] = 0x4F; garbage[1] = 1 }
            if let o = try? Observation(decoding: garbage) {
                decoded += 1
                #expect(try Observation(decoding: o.encode()) == o, "anything accepted round-trips")
            }
        }
        // Flipping a byte of a valid record either fails or decodes to something that re-encodes the same.
        for i in bytes.indices {
            var mutated = bytes
            mutated[i] ^= 0x5A
            if let o = try? Observation(decoding: mutated) { #expect(try Observation(decoding: o.encode()) == o) }
        }
        _ = decoded
    }
}

@Suite("Observation binary codec: enrichment (version 2)")
struct ObservationEnrichmentCodecTests {
    static let enriched: Observation = {
        var o = observe(makeEvent(time: baseTime, address: .ipv6(high: 0x2001_0db8_0001_0000, low: 5)))
        o.enrichment = AddressEnrichment(asn: 4_200_000_000, asOrganization: "EXAMPLE-V6-ISP", countryCode: "IE", city: "Dún Laoghaire")
        return o
    }()

    @Test func roundTripsEveryCombinationOfFields() throws {
        for mask in 1..<16 {
            var o = Self.enriched
            var e = o.enrichment!
            if mask & 1 == 0 { e.asn = nil }
            if mask & 2 == 0 { e.asOrganization = nil }
            if mask & 4 == 0 { e.countryCode = nil }
            if mask & 8 == 0 { e.city = nil }
            o.enrichment = e
            let bytes = o.encode()
            #expect(bytes[1] == 2)
            #expect(try Observation(decoding: bytes) == o)
        }
    }

    @Test func withoutEnrichmentTheBytesAreVersionOneAsBefore() throws {
        let o = observe(makeEvent(time: baseTime, address: ipv4("198.51.100.7")))
        let bytes = o.encode()
        #expect(bytes[1] == 1)
        #expect(try Observation(decoding: bytes) == o)
        // An empty enrichment is none at all.
        var empty = o
        empty.enrichment = AddressEnrichment()
        #expect(Observation(groupingKey: o.groupingKey, principalArn: o.principalArn, principalType: o.principalType,
                            accountId: o.accountId, address: o.address, accessKeyId: o.accessKeyId, userAgent: o.userAgent,
                            eventSource: o.eventSource, eventName: o.eventName, awsRegion: o.awsRegion,
                            eventTime: o.eventTime, eventID: o.eventID, origin: o.origin,
                            enrichment: AddressEnrichment()).encode() == bytes)
    }

    @Test func truncationsAndBadFlagsAreErrors() throws {
        let bytes = Self.enriched.encode()
        for n in 0..<bytes.count {
            #expect(throws: ObservationDecodingError.self) { try Observation(decoding: bytes.prefix(n)) }
        }
        var o = Self.enriched
        o.enrichment = AddressEnrichment(asn: 1)
        var flagged = o.encode()
        // Layout ends with: flags byte, asn varint (one byte for 1).
        flagged[flagged.count - 2] |= 0x10
        #expect(throws: ObservationDecodingError.invalidFlags(0x11)) { try Observation(decoding: flagged) }
        // A version-1 record that carries enrichment bytes has trailing bytes.
        var relabelled = Self.enriched.encode()
        relabelled[1] = 1
        #expect(throws: ObservationDecodingError.self) { try Observation(decoding: relabelled) }
    }
}

@Suite("Observation binary codec: session context (version 3)")
struct ObservationSessionCodecTests {
    static let session = SessionFacts(
        issuerArn: "arn:aws:iam::123456789012:role/service/deploy", createdAt: at(baseTime - 3_600_000),
        mfaAuthenticated: true, sourceIdentity: "alice@example.com")

    static func withSession(_ facts: SessionFacts, enriched: Bool = false) -> Observation {
        var o = observe(makeEvent(time: baseTime, address: ipv4("198.51.100.7")))
        o.session = facts
        if enriched { o.enrichment = AddressEnrichment(asn: 64500, asOrganization: "EXAMPLE-CLOUD") }
        return o
    }

    @Test func roundTripsEveryCombinationOfFacts() throws {
        for mask in 1..<32 {
            let s = Self.session
            let facts = SessionFacts(
                issuerArn: mask & 1 != 0 ? s.issuerArn : nil, createdAt: mask & 2 != 0 ? s.createdAt : nil,
                mfaAuthenticated: mask & 4 != 0 ? true : mask & 8 != 0 ? false : nil,
                sourceIdentity: mask & 16 != 0 ? s.sourceIdentity : nil)
            for enriched in [false, true] {
                let o = Self.withSession(facts, enriched: enriched)
                let bytes = o.encode()
                #expect(bytes[1] == (facts.isEmpty ? (enriched ? 2 : 1) : 3), "mask \(mask)")
                #expect(try Observation(decoding: bytes) == o, "mask \(mask)")
            }
        }
    }

    /// A repartition record written by the previous build (version 2, laid out here by hand from
    /// its documented layout, not by the encoder) still reads: no session context, all else as it was.
    @Test func readsAVersionTwoRecordOfThePreviousBuild() throws {
        func text(_ s: String) -> [UInt8] { [UInt8(s.utf8.count)] + Array(s.utf8) }
        let arn = "arn:aws:sts::123456789012:assumed-role/deploy/alice"
        var bytes: [UInt8] = [0x4F, 2, 0b0100_0001]  // flags: accountId present, grouping key = ARN
        bytes += [4, 198, 51, 100, 7]
        bytes += [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]  // zigzag(2^41): varint of 2^42
        bytes += [2, 10]  // partition 1, offset 5 (zigzag)
        bytes += text(arn) + text("AssumedRole") + text("ASIAEXAMPLEKEY000001") + text("cloudtrail")
        bytes += text("123456789012")
        bytes += [0b0010, 13] + Array("EXAMPLE-CLOUD".utf8)  // enrichment: AS organisation only
        let o = try Observation(decoding: bytes)
        #expect(o.principalArn == arn && o.groupingKey == arn && o.accountId == "123456789012")
        #expect(o.eventTime == EventTime(millisecondsSinceEpoch: 1 << 41))
        #expect(o.origin == EventOrigin(topic: "cloudtrail", partition: 1, offset: 5))
        #expect(o.enrichment == AddressEnrichment(asOrganization: "EXAMPLE-CLOUD"))
        #expect(o.session.isEmpty)
        try bytes.withUnsafeBytes { value in
            let e = try EncodedObservation.read(value)
            #expect(e.string(.sessionIssuerArn) == nil && e.sessionCreatedAt == nil && e.mfaAuthenticated == nil)
        }
        // Version 1 (the same without the enrichment) reads likewise.
        var v1 = Array(bytes.dropLast(15))
        v1[1] = 1
        let o1 = try Observation(decoding: v1)
        #expect(o1.enrichment == nil && o1.session.isEmpty && o1.principalArn == arn)
    }

    @Test func truncationsAndBadFlagsAreErrors() throws {
        let bytes = Self.withSession(Self.session).encode()
        for n in 0..<bytes.count {
            #expect(throws: ObservationDecodingError.self) { try Observation(decoding: bytes.prefix(n)) }
        }
        // Only the MFA bit set (MFA true without MFA known).
        let mfaOnly = Self.withSession(SessionFacts(mfaAuthenticated: false)).encode()
        #expect(mfaOnly.last == 4)
        var forged = mfaOnly
        forged[forged.count - 1] = 8
        #expect(throws: ObservationDecodingError.invalidFlags(8)) { try Observation(decoding: forged) }
        forged[forged.count - 1] = 0x24
        #expect(throws: ObservationDecodingError.invalidFlags(0x24)) { try Observation(decoding: forged) }
        forged[forged.count - 1] = 0
        #expect(throws: ObservationDecodingError.invalidFlags(0)) { try Observation(decoding: forged) }
        // A creation time outside the accepted range is refused like an event time.
        var far = Self.withSession(SessionFacts(createdAt: at(baseTime)))
        far.session.createdAt = EventTime(millisecondsSinceEpoch: -5)
        #expect(throws: ObservationDecodingError.eventTimeOutOfRange(-5)) { try Observation(decoding: far.encode()) }
        // A version 2 record followed by session bytes has trailing bytes.
        var relabelled = Self.withSession(Self.session, enriched: true).encode()
        relabelled[1] = 2
        #expect(throws: ObservationDecodingError.self) { try Observation(decoding: relabelled) }
    }

    /// The route stage encodes a kept event in place (`LentObservation`): the same bytes as the
    /// observation `evaluate` makes, session context included.
    @Test func theLentEncodingCarriesTheSessionContext() throws {
        let record = Array(#"""
            {"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:alice",
            "arn":"arn:aws:sts::123456789012:assumed-role/deploy/alice","accountId":"123456789012",
            "accessKeyId":"ASIAEXAMPLEKEY000001","sessionContext":{"sessionIssuer":{"type":"Role",
            "principalId":"AROAEXAMPLE","arn":"arn:aws:iam::123456789012:role/service/deploy",
            "accountId":"123456789012","userName":"deploy"},"attributes":{"creationDate":"2026-03-02T07:12:09Z",
            "mfaAuthenticated":"true"},"sourceIdentity":"alice@example.com"}},"eventTime":"2026-03-02T08:04:12Z",
            "eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1",
            "sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.0","eventID":"e1"}
            """#.utf8)
        let rule = DetectionRule()
        let decoder = CloudTrailDecoder(fields: DetectionRule.fieldsRead)
        let origin = EventOrigin(topic: "cloudtrail", partition: 0, offset: 9)
        let made = try #require(decoder.decode(record).events.first)
        let observation = try rule.evaluate(made, origin: origin).get()
        #expect(observation.session == SessionFacts(
            issuerArn: "arn:aws:iam::123456789012:role/service/deploy", createdAt: RFC3339.parse("2026-03-02T07:12:09Z"),
            mfaAuthenticated: true, sourceIdentity: "alice@example.com"))
        var lent = ObservationBatch()
        var result = CloudTrailDecodeResult()
        decoder.decodeEach(record, into: &result) { event in
            if case .success(let kept) = rule.keep(event) { lent.append(kept, origin: origin) }
        }
        var direct = ObservationBatch()
        direct.append(observation)
        #expect(lent.count == 1 && lent.bytes == direct.bytes)
    }
}
