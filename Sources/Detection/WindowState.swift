import CloudTrail

// What one window keeps: the full `WindowState` with its session and network evidence, the compact
// `FirstEvent` of a one-event window, and the tables they share strings and enrichments through.

/// Everything one (partition, grouping key, window) keeps. One-value evidence lives inline, so a
/// window with one event allocates nothing beyond its dictionary slot and its unique strings.
struct WindowState: Sendable {
    var principalArn: String
    var principalType: String
    var accountId: String?
    var addresses: SmallDistinct<SourceAddress> = .empty
    var accessKeyIds: SmallDistinct<CompactText> = .empty
    var userAgents: SmallDistinct<String> = .empty
    var eventSources: SmallDistinct<String> = .empty
    var eventNames: SmallDistinct<String> = .empty
    var awsRegions: SmallDistinct<String> = .empty
    var eventIDs: SmallDistinct<CompactText> = .empty
    var origins: SmallOrigins
    /// Networks, cities and per-address enrichment; nil while the window has none and the rule
    /// does not score fidelity, so a deployment without GeoIP databases pays one pointer.
    var network: NetworkEvidence.Box?
    var eventCount: Int64 = 0
    var firstSeen: Int64
    var lastSeen: Int64
    /// Last revision emitted (0: none yet).
    var revision: Int32 = 0
    /// Distinct address count at the last emission.
    var emittedAddressCount: Int32 = 0
    /// `lastSeen` at the last `open` emission: the event-time throttle of updates.
    var lastEmittedAt: Int64 = .min
    /// The session context of the window's events, one value per fact (`SessionEvidence`).
    var session = SessionEvidence()

    /// A window of grouping key `key` starting with `o` (which `add` then adds).
    init(_ o: some ObservationSource, key: String, pool: inout StringPool) {
        principalArn = o.groupingKeyFlag == Observation.groupingKeyIsArn ? key : o.string(.principalArn)!
        principalType = pool.intern(o.string(.principalType)!)
        accountId = o.string(.accountId).map { pool.intern($0) }
        let origin = o.origin
        origins = .one(OriginRange(topic: pool.intern(origin.topic), partition: origin.partition,
                                   firstOffset: origin.offset, lastOffset: origin.offset))
        firstSeen = o.eventTime.millisecondsSinceEpoch
        lastSeen = firstSeen
    }

    /// Adds one observation; returns true when it brought a new distinct address. Text is compared
    /// in place (`withText`): a string is made only for a value a list keeps.
    mutating func add(_ o: some ObservationSource, limits: EvidenceLimits, scoring: Bool, pool: inout StringPool) -> Bool {
        let track = limits.distinctTrackingLimit
        let address = o.address
        let added = addresses.insert(address, limit: limits.sourceAddresses, trackLimit: track)
        let enrichment = o.enrichment
        if scoring || enrichment != nil || network != nil {
            if network == nil {
                network = NetworkEvidence.Box(NetworkEvidence())
            } else if !isKnownUniquelyReferenced(&network!) {
                network = NetworkEvidence.Box(network!.value)
            }
            network!.value.add(address: address, enrichment: enrichment, userAgent: o.string(.userAgent),
                               newAddress: added, limits: limits, pool: &pool)
        }
        _ = o.withText(.accessKeyId) {
            accessKeyIds.insert(CompactProbe($0), limit: limits.accessKeyIds, trackLimit: track, storing: \.value)
        }
        o.withText(.userAgent) { userAgents.insert(utf8: $0, limit: limits.userAgents, trackLimit: track, pool: &pool) }
        o.withText(.eventSource) {
            eventSources.insert(utf8: $0, limit: limits.eventSources, trackLimit: track, pool: &pool)
        }
        o.withText(.eventName) { eventNames.insert(utf8: $0, limit: limits.eventNames, trackLimit: track, pool: &pool) }
        o.withText(.awsRegion) { awsRegions.insert(utf8: $0, limit: limits.awsRegions, trackLimit: track, pool: &pool) }
        // A sample only: no fingerprints kept past the bound (event_count is the true count).
        _ = o.withText(.eventID) { eventIDs.insert(CompactProbe($0), limit: limits.sampleEventIDs, trackLimit: 0, storing: \.value) }
        if eventCount > 0 { origins.insert(o.origin, limit: limits.inputRanges) }
        session.add(o, pool: &pool)
        eventCount += 1
        let t = o.eventTime.millisecondsSinceEpoch
        firstSeen = min(firstSeen, t)
        lastSeen = max(lastSeen, t)
        return added
    }

    var addressCount: Int { addresses.count }

    /// An estimate of the heap this window holds: the box, its kept evidence, and strings too long
    /// to be stored inline (over 15 UTF-8 bytes).
    var estimatedBytes: Int {
        func text(_ d: SmallDistinct<String>) -> Int {
            d.values.reduce(MemoryLayout<String>.stride) { $0 + MemoryLayout<String>.stride + ($1.utf8.count > 15 ? 32 + $1.utf8.count : 0) }
        }
        func text(_ d: SmallDistinct<CompactText>) -> Int {
            d.values.reduce(MemoryLayout<CompactText>.stride) {
                guard case .text(let s) = $1 else { return $0 + MemoryLayout<CompactText>.stride }
                return $0 + MemoryLayout<CompactText>.stride + (s.utf8.count > 15 ? 32 + s.utf8.count : 0)
            }
        }
        func text(_ s: String?) -> Int { (s?.utf8.count ?? 0) > 15 ? 32 + s!.utf8.count : 0 }
        return 16 + MemoryLayout<WindowState>.stride + principalArn.utf8.count + 32
            + text(session.issuerArn) + text(session.sourceIdentity)
            + (addresses.values.count + 1) * MemoryLayout<SourceAddress>.stride
            + text(accessKeyIds) + text(userAgents) + text(eventSources) + text(eventNames) + text(awsRegions) + text(eventIDs)
            + (origins.values.count + 1) * MemoryLayout<OriginRange>.stride
    }
}

/// The session context of a window's events, one value per fact whatever the order the events
/// came in (a replay, or another instance, reads the same alert): the smallest issuer ARN and
/// source identity (a window normally holds one session, or sessions of one role, so one value),
/// the earliest creation time, and MFA as `false` when any event said false, `true` when every event
/// that said anything said true: the alert then never claims MFA for a session that had none.
struct SessionEvidence: Sendable, Hashable {
    var issuerArn: String?
    var sourceIdentity: String?
    /// Milliseconds; nil when no event had one.
    var createdAt: Int64?
    /// Bit 0: an event said true; bit 1: an event said false.
    var mfaSeen: UInt8 = 0

    mutating func add(_ o: some ObservationSource, pool: inout StringPool) {
        _ = o.withText(.sessionIssuerArn) { Self.keepSmallest(&issuerArn, $0, pool: &pool) }
        _ = o.withText(.sourceIdentity) { Self.keepSmallest(&sourceIdentity, $0, pool: &pool) }
        if let t = o.sessionCreatedAt?.millisecondsSinceEpoch { createdAt = min(createdAt ?? t, t) }
        if let mfa = o.mfaAuthenticated { mfaSeen |= mfa ? 1 : 2 }
    }

    private static func keepSmallest(_ held: inout String?, _ bytes: UnsafeBufferPointer<UInt8>, pool: inout StringPool) {
        if let held, held.withUTF8Bytes({ String.compareBytes($0, bytes) }) <= 0 { return }
        held = pool.intern(utf8: bytes)
    }

    var mfaAuthenticated: Bool? { mfaSeen & 2 != 0 ? false : mfaSeen & 1 != 0 ? true : nil }

    var facts: SessionFacts {
        SessionFacts(issuerArn: issuerArn, createdAt: createdAt.map(EventTime.init(millisecondsSinceEpoch:)),
                     mfaAuthenticated: mfaAuthenticated, sourceIdentity: sourceIdentity)
    }
}

/// What enrichment adds to a window: distinct networks (AS organisations) and cities, the
/// address-user agent pairs, and each listed address's enrichment.
struct NetworkEvidence: Sendable {
    var networks: SmallDistinct<String> = .empty
    var cities: SmallDistinct<String> = .empty
    /// `address - user agent`, as Elastic's `Esql.source_ip_user_agent_pair`.
    var addressAgents: SmallDistinct<String> = .empty
    /// Per address; bounded by pruning to the listed addresses past twice the address limit.
    var details: [SourceAddress: AddressEnrichment] = [:]

    /// Copy-on-write like `SmallDistinct.Box`: `WindowState.add` mutates it only when uniquely referenced.
    final class Box: @unchecked Sendable {
        var value: NetworkEvidence
        init(_ value: NetworkEvidence) { self.value = value }
    }

    mutating func add(
        address: SourceAddress, enrichment: AddressEnrichment?, userAgent: String?, newAddress: Bool,
        limits: EvidenceLimits, pool: inout StringPool
    ) {
        let track = limits.distinctTrackingLimit
        if let e = enrichment {
            networks.insert(e.asOrganization, limit: limits.sourceAddresses, trackLimit: track, pool: &pool)
            cities.insert(e.city, limit: limits.sourceAddresses, trackLimit: track, pool: &pool)
            if newAddress || details[address] == nil, details.count < 2 * limits.sourceAddresses {
                details[address] = AddressEnrichment(
                    asn: e.asn, asOrganization: e.asOrganization.map { pool.intern($0) },
                    countryCode: e.countryCode, city: e.city.map { pool.intern($0) })
            }
        }
        if let agent = userAgent {
            addressAgents.insert(address.canonicalText + " - " + agent, limit: limits.userAgents, trackLimit: track)
        }
    }

    /// Drops details of addresses no longer listed (a smaller address displaced them).
    mutating func prune(keeping listed: [SourceAddress]) {
        let keep = Set(listed)
        details = details.filter { keep.contains($0.key) }
    }
}

/// Shares one copy of the strings that repeat across windows (user agents, event sources, ...):
/// decoded observations bring a fresh copy each, and keeping those would dominate memory.
/// Best effort: it forgets everything past `capacity`, which only costs sharing.
///
/// Found by the bytes' fingerprint (`String.fingerprint`), so text lent as bytes is looked up before
/// any string is made: a window's new event name or source was a string made, looked up and freed.
/// Two texts with one fingerprint (or a forged collision) only go unshared: the first one stays.
struct StringPool: Sendable {
    private var strings: [UInt64: String] = [:]
    let capacity: Int

    init(capacity: Int = 1 << 16) { self.capacity = capacity }

    mutating func intern(_ text: String) -> String {
        // Up to 15 UTF-8 bytes a String is stored inline; nothing to share.
        guard text.utf8.count > 15 else { return text }
        return text.withUTF8Bytes { bytes in
            let fingerprint = String.fingerprint(bytes)
            return lookUp(bytes, fingerprint) ?? keep(text, fingerprint: fingerprint)
        }
    }

    /// The shared copy of the text `bytes` hold, made from them only when the pool has none.
    mutating func intern(utf8 bytes: UnsafeBufferPointer<UInt8>) -> String {
        guard bytes.count > 15 else { return String(decoding: bytes, as: UTF8.self) }
        let fingerprint = String.fingerprint(bytes)
        return lookUp(bytes, fingerprint) ?? keep(String(decoding: bytes, as: UTF8.self), fingerprint: fingerprint)
    }

    private func lookUp(_ bytes: UnsafeBufferPointer<UInt8>, _ fingerprint: UInt64) -> String? {
        guard let shared = strings[fingerprint], shared.withUTF8Bytes({ String.compareBytes($0, bytes) == 0 }) else { return nil }
        return shared
    }

    private mutating func keep(_ text: String, fingerprint: UInt64) -> String {
        if strings.count >= capacity { strings.removeAll(keepingCapacity: true) }
        if strings[fingerprint] == nil { strings[fingerprint] = text }
        return text
    }
}

/// A window that has seen one event: the common case (most principals call from one address, and
/// a million of them can hold windows at once), so it is kept in 128 bytes inline: shared
/// strings as `StringTable` ids, the access key and event id packed.
struct FirstEvent: Sendable {
    // Declaration order is layout order: each 17-byte enum is followed by a 4-byte id that fills
    // its padding (128 bytes instead of 140).
    var address: SourceAddress
    var principalType: UInt32
    var accessKeyId: CompactText
    var accountId: UInt32
    var eventID: CompactText?
    var userAgent: UInt32
    var time: Int64
    var offset: Int64
    var partition: Int32
    /// 0: same as the grouping key.
    var principalArn: UInt32
    var eventSource: UInt32
    var eventName: UInt32
    var awsRegion: UInt32
    /// The topic's `StringTable` id; the top bit says the address's enrichment is held in the
    /// `EnrichmentTable` (no room for a field of its own: 4 more bytes would cost 8 per window).
    private var topicAndEnrichment: UInt32
    /// The session context (16 bytes): the issuer ARN's `StringTable` id, the source identity's id
    /// with MFA in its top two bits, the creation time (`Int64.min`: none).
    private var sessionIssuerArn: UInt32
    private var sourceIdentityAndMFA: UInt32
    private var sessionCreatedAt: Int64

    private static let enrichedBit: UInt32 = 1 << 31
    private static let mfaKnownBit: UInt32 = 1 << 31
    private static let mfaTrueBit: UInt32 = 1 << 30
    var topic: UInt32 { topicAndEnrichment & ~Self.enrichedBit }
    var isEnriched: Bool { topicAndEnrichment & Self.enrichedBit != 0 }

    /// Text is looked up in `table` in place: a string is made only for text it does not hold yet.
    init(_ o: some ObservationSource, table: inout StringTable, enrichments: inout EnrichmentTable) {
        address = o.address
        accessKeyId = o.withText(.accessKeyId) { CompactText(utf8: $0) } ?? .text("")
        eventID = o.withText(.eventID) { CompactText(utf8: $0) }
        time = o.eventTime.millisecondsSinceEpoch
        let origin = o.origin
        offset = origin.offset
        partition = origin.partition
        @inline(__always) func retain(_ field: ObservationText) -> UInt32 {
            o.withText(field) { table.retain(utf8: $0) } ?? 0
        }
        principalArn = o.groupingKeyFlag == Observation.groupingKeyIsArn ? 0 : retain(.principalArn)
        principalType = retain(.principalType)
        accountId = retain(.accountId)
        userAgent = retain(.userAgent)
        eventSource = retain(.eventSource)
        eventName = retain(.eventName)
        awsRegion = retain(.awsRegion)
        // Ids count distinct strings held at once: far below 2^31.
        topicAndEnrichment = table.retain(origin.topic)
        if let e = o.enrichment {
            enrichments.retain(address, e)
            topicAndEnrichment |= Self.enrichedBit
        }
        sessionIssuerArn = retain(.sessionIssuerArn)
        sourceIdentityAndMFA = retain(.sourceIdentity)
        if let mfa = o.mfaAuthenticated { sourceIdentityAndMFA |= Self.mfaKnownBit | (mfa ? Self.mfaTrueBit : 0) }
        sessionCreatedAt = o.sessionCreatedAt?.millisecondsSinceEpoch ?? .min
    }

    private var sourceIdentity: UInt32 { sourceIdentityAndMFA & ~(Self.mfaKnownBit | Self.mfaTrueBit) }

    func observation(key: String, table: StringTable, enrichments: EnrichmentTable) -> Observation {
        Observation(
            groupingKey: key, principalArn: table[principalArn] ?? key, principalType: table[principalType] ?? "",
            accountId: table[accountId], address: address, accessKeyId: accessKeyId.string,
            userAgent: table[userAgent], eventSource: table[eventSource], eventName: table[eventName],
            awsRegion: table[awsRegion], eventTime: EventTime(millisecondsSinceEpoch: time),
            eventID: eventID?.string,
            origin: EventOrigin(topic: table[topic] ?? "", partition: partition, offset: offset),
            enrichment: isEnriched ? enrichments[address] : nil,
            session: SessionFacts(
                issuerArn: table[sessionIssuerArn],
                createdAt: sessionCreatedAt == .min ? nil : EventTime(millisecondsSinceEpoch: sessionCreatedAt),
                mfaAuthenticated: sourceIdentityAndMFA & Self.mfaKnownBit == 0 ? nil : sourceIdentityAndMFA & Self.mfaTrueBit != 0,
                sourceIdentity: table[sourceIdentity])
        )
    }

    func release(from table: inout StringTable, enrichments: inout EnrichmentTable) {
        for id in [principalArn, principalType, accountId, userAgent, eventSource, eventName, awsRegion, topic,
                   sessionIssuerArn, sourceIdentity] {
            table.release(id)
        }
        if isEnriched { enrichments.release(address) }
    }
}

/// The enrichment of the addresses of compact (one-event) windows: per address a 4-byte id of a
/// distinct enrichment (many addresses share one: same AS, same city), so a window's address costs a
/// 32-byte table entry, not a copy of three strings. Both levels are reference counted: an
/// address's entry leaves with its last window, an enrichment with its last address.
struct EnrichmentTable: Sendable {
    private var byAddress: [SourceAddress: (id: UInt32, windows: UInt32)] = [:]
    private var index: [AddressEnrichment: UInt32] = [:]
    private var values: [AddressEnrichment?] = [nil]
    private var addresses: [UInt32] = [0]
    private var free: [UInt32] = []

    /// The heap it holds (the enrichments' strings are shared with the string pool; not counted).
    var estimatedBytes: Int {
        byAddress.capacity * (MemoryLayout<SourceAddress>.stride + MemoryLayout<(id: UInt32, windows: UInt32)>.stride)
            + index.capacity * (MemoryLayout<AddressEnrichment>.stride + MemoryLayout<UInt32>.stride)
            + values.count * MemoryLayout<AddressEnrichment?>.stride + (addresses.count + free.count) * MemoryLayout<UInt32>.stride
    }

    /// Holds `value` for `address` (a newer value, after a database reload, replaces the older).
    mutating func retain(_ address: SourceAddress, _ value: AddressEnrichment) {
        if let entry = byAddress[address] {
            if values[Int(entry.id)] == value {
                byAddress[address] = (entry.id, entry.windows + 1)
                return
            }
            releaseValue(entry.id)
            byAddress[address] = (retainValue(value), entry.windows + 1)
            return
        }
        byAddress[address] = (retainValue(value), 1)
    }

    mutating func release(_ address: SourceAddress) {
        guard let entry = byAddress[address] else { return }
        if entry.windows > 1 {
            byAddress[address] = (entry.id, entry.windows - 1)
        } else {
            byAddress[address] = nil
            releaseValue(entry.id)
        }
    }

    subscript(address: SourceAddress) -> AddressEnrichment? {
        byAddress[address].flatMap { values[Int($0.id)] }
    }

    /// Addresses held.
    var count: Int { byAddress.count }
    /// Distinct enrichments held.
    var distinctValues: Int { index.count }

    private mutating func retainValue(_ value: AddressEnrichment) -> UInt32 {
        if let id = index[value] {
            addresses[Int(id)] += 1
            return id
        }
        let id: UInt32
        if let reused = free.popLast() {
            id = reused
            values[Int(id)] = value
            addresses[Int(id)] = 1
        } else {
            id = UInt32(values.count)
            values.append(value)
            addresses.append(1)
        }
        index[value] = id
        return id
    }

    private mutating func releaseValue(_ id: UInt32) {
        addresses[Int(id)] -= 1
        if addresses[Int(id)] == 0, let value = values[Int(id)] {
            index[value] = nil
            values[Int(id)] = nil
            free.append(id)
        }
    }
}
