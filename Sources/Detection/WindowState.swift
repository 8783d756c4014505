import CloudTrail

/// Everything one (partition, grouping key, window) keeps. One-value evidence lives inline, so a
/// window with one event allocates nothing beyond its dictionary slot and its unique strings.
struct WindowState: Sendable {
    var principalArn: String
    var principalType: String
    var accountId: String?
    var addresses: SmallDistinct<SourceAddress> = .empty
    var accessKeyIds: SmallDistinct<String> = .empty
    var userAgents: SmallDistinct<String> = .empty
    var eventSources: SmallDistinct<String> = .empty
    var eventNames: SmallDistinct<String> = .empty
    var awsRegions: SmallDistinct<String> = .empty
    var eventIDs: SmallDistinct<String> = .empty
    var origins: SmallOrigins
    var eventCount: Int64 = 0
    var firstSeen: Int64
    var lastSeen: Int64
    /// Last revision emitted (0: none yet).
    var revision: Int32 = 0
    /// Distinct address count at the last emission.
    var emittedAddressCount: Int32 = 0
    /// `lastSeen` at the last `open` emission: the event-time throttle of updates.
    var lastEmittedAt: Int64 = .min

    init(_ o: Observation, pool: inout StringPool) {
        principalArn = o.principalArn == o.groupingKey ? o.groupingKey : o.principalArn
        principalType = pool.intern(o.principalType)
        accountId = o.accountId.map { pool.intern($0) }
        origins = .one(OriginRange(topic: pool.intern(o.origin.topic), partition: o.origin.partition,
                                   firstOffset: o.origin.offset, lastOffset: o.origin.offset))
        firstSeen = o.eventTime.millisecondsSinceEpoch
        lastSeen = firstSeen
    }

    /// Adds one observation; returns true when it brought a new distinct address.
    mutating func add(_ o: Observation, limits: EvidenceLimits, pool: inout StringPool) -> Bool {
        let track = limits.distinctTrackingLimit
        let added = addresses.insert(o.address, limit: limits.sourceAddresses, trackLimit: track)
        accessKeyIds.insert(o.accessKeyId, limit: limits.accessKeyIds, trackLimit: track)
        userAgents.insert(o.userAgent.map { pool.intern($0) }, limit: limits.userAgents, trackLimit: track)
        eventSources.insert(o.eventSource.map { pool.intern($0) }, limit: limits.eventSources, trackLimit: track)
        eventNames.insert(o.eventName.map { pool.intern($0) }, limit: limits.eventNames, trackLimit: track)
        awsRegions.insert(o.awsRegion.map { pool.intern($0) }, limit: limits.awsRegions, trackLimit: track)
        // A sample only: no fingerprints kept past the bound (event_count is the true count).
        eventIDs.insert(o.eventID, limit: limits.sampleEventIDs, trackLimit: 0)
        if eventCount > 0 { origins.insert(o.origin, limit: limits.inputRanges) }
        eventCount += 1
        let t = o.eventTime.millisecondsSinceEpoch
        firstSeen = min(firstSeen, t)
        lastSeen = max(lastSeen, t)
        return added
    }

    var addressCount: Int { addresses.count }
}

/// Shares one copy of the strings that repeat across windows (user agents, event sources, ...):
/// decoded observations bring a fresh copy each, and keeping those would dominate memory.
/// Best effort: it forgets everything past `capacity`, which only costs sharing.
struct StringPool: Sendable {
    private var strings: Set<String> = []
    let capacity: Int

    init(capacity: Int = 1 << 16) { self.capacity = capacity }

    mutating func intern(_ text: String) -> String {
        // Up to 15 UTF-8 bytes a String is stored inline; nothing to share.
        guard text.utf8.count > 15 else { return text }
        if let index = strings.firstIndex(of: text) { return strings[index] }
        if strings.count >= capacity { strings.removeAll(keepingCapacity: true) }
        strings.insert(text)
        return text
    }
}
