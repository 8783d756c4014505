public import CloudTrail

/// An attack the generator injected: the owner's address plus attacker addresses in one window.
public struct InjectedAttack: Sendable, Hashable {
    public var principalArn: String
    public var windowStart: EventTime
    /// Canonical text, in the detector's order (IPv4 then IPv6, each numeric).
    public var sourceAddresses: [String]
}

/// A principal seen from one address until one second before a window boundary and from another
/// from the boundary on (or one second after it): two windows of one address each, so no alert.
public struct NearMiss: Sendable, Hashable {
    public var principalArn: String
    public var boundary: EventTime
}

/// One event before rendering: what the oracle needs, and the seed of the rest.
struct EventSpec: Sendable {
    var principal: Int
    var category: TrafficCategory
    var sourceIP: String
    var userAgent: String?
    var accessKeyId: String?
    /// Seconds since the epoch.
    var eventTime: Int64
    /// Emission order: events leave the generator by this, and `eventTime` trails it by at most
    /// `maxDisorder`, which is what bounds the disorder within every partition.
    var nominalMs: Int64
    var api: Int
    var failed: Bool
}

/// A seeded generator of CloudTrail traffic with injected attacks and noise.
///
/// Events come out lazily in one global order (`interleaved`); each carries the input partition it
/// belongs to. Within a partition event times are ordered up to `maxDisorder`: an event is never
/// older than the newest event before it in its partition by more than that. The same
/// configuration yields the same bytes every time, which is what lets a test regenerate a
/// partition (`events(inPartition:)`) or the oracle (`expectedAlerts()`) instead of storing events.
public struct TrafficGenerator: Sequence, Sendable {
    public let configuration: SimulationConfiguration
    /// The attacks injected, sorted by window then principal.
    public let injectedAttacks: [InjectedAttack]
    public let nearMisses: [NearMiss]
    let population: Population
    let specials: [EventSpec]
    let backgroundCount: Int

    public init(_ configuration: SimulationConfiguration) throws(SimulationError) {
        try configuration.validate()
        let c = configuration
        self.configuration = c
        var rng = SplitMix64(seed: SplitMix64.mix(c.seed ^ 0x5EED_0001))
        var population = Population(configuration: c, rng: &rng)
        var specials: [EventSpec] = []
        let window = SimulationConfiguration.windowSeconds
        let disorder = Int(c.maxDisorderSeconds)
        func nominal(_ t: Int64) -> Int64 { t * 1000 + Int64(rng.below(disorder + 1)) * 1000 + Int64(rng.below(1000)) }
        func api() -> Int { rng.below(EventCatalog.apis.count) }

        // Attacks: distinct (principal, window) pairs in windows wholly inside the span.
        let firstWindow = Self.ceil(c.startSeconds, window)
        let windows = Array(stride(from: firstWindow, through: c.endSeconds - window, by: Int(window)))
        var attacks: [InjectedAttack] = []
        if c.attackCount > 0 {
            guard !windows.isEmpty else {
                throw SimulationError("attacks need a whole 30-minute window inside the span; the duration is too short")
            }
            guard c.attackCount <= population.normal.count * windows.count / 2 else {
                throw SimulationError("\(c.attackCount) attacks need more principals or windows (have \(population.normal.count) principals, \(windows.count) windows)")
            }
        }
        var used = Set<[Int64]>()
        while attacks.count < c.attackCount {
            let who = population.normal[rng.below(population.normal.count)]
            let w = windows[rng.below(windows.count)]
            guard used.insert([Int64(who), w]).inserted else { continue }
            let owner = population.principals[who]
            var addresses = [owner.homeAddress]
            for _ in 0..<rng.inRange(1...4) { addresses.append(Addresses.distinct(from: addresses, &rng)) }
            let agent = rng.pick(Population.attackerAgents)
            for (k, address) in addresses.enumerated() {
                for _ in 0..<rng.inRange(1...3) {
                    let t = w + Int64(rng.below(Int(window)))
                    specials.append(EventSpec(
                        principal: who, category: .attack, sourceIP: k == 0 ? rng.pick(owner.homeTexts) : address,
                        userAgent: k == 0 ? rng.pick(owner.userAgents) : agent, accessKeyId: owner.sessionKey,
                        eventTime: t, nominalMs: nominal(t), api: api(), failed: rng.chance(0.1)))
                }
            }
            attacks.append(InjectedAttack(
                principalArn: owner.arn ?? "", windowStart: EventTime(secondsSinceEpoch: w),
                sourceAddresses: ExpectedAlerts.sortedAddresses(addresses)))
        }

        // Near misses: boundaries with ten minutes of span on either side.
        let boundaries = Array(stride(from: Self.ceil(c.startSeconds + 600, window), through: c.endSeconds - 601, by: Int(window)))
        var nearMisses: [NearMiss] = []
        let nearMissCount = boundaries.isEmpty && c.nearMissCount == nil ? 0 : c.effectiveNearMissCount
        if nearMissCount > 0 && boundaries.isEmpty {
            throw SimulationError("near misses need a window boundary ten minutes inside the span; the duration is too short")
        }
        for i in 0..<nearMissCount {
            let b = boundaries[rng.below(boundaries.count)]
            let who = population.addNearMiss(c, rng: &rng)
            let p = population.principals[who]
            let away = p.addressPool[0]
            var times: [(Int64, Bool)] = [(b - 1, true), (i % 2 == 0 ? b : b + 1, false)]
            for _ in 0..<rng.below(4) { times.append((b - 600 + Int64(rng.below(599)), true)) }
            for _ in 0..<rng.below(4) { times.append((b + Int64(rng.below(600)), false)) }
            for (t, home) in times {
                specials.append(EventSpec(
                    principal: who, category: .nearMiss, sourceIP: home ? p.homeTexts[0] : away,
                    userAgent: p.userAgents[0], accessKeyId: p.sessionKey, eventTime: t, nominalMs: nominal(t),
                    api: api(), failed: false))
            }
            nearMisses.append(NearMiss(principalArn: p.arn ?? "", boundary: EventTime(secondsSinceEpoch: b)))
        }

        guard specials.count <= c.eventCount else {
            throw SimulationError("eventCount \(c.eventCount) is too small: attacks and near misses alone need \(specials.count) events")
        }
        // Stable order: equal nominal times keep their planning order.
        let order = specials.indices.sorted { (specials[$0].nominalMs, $0) < (specials[$1].nominalMs, $1) }
        self.specials = order.map { specials[$0] }
        self.backgroundCount = c.eventCount - specials.count
        self.population = population
        self.injectedAttacks = attacks.sorted { ($0.windowStart, $0.principalArn) < ($1.windowStart, $1.principalArn) }
        self.nearMisses = nearMisses
    }

    static func ceil(_ value: Int64, _ step: Int64) -> Int64 {
        let floor = value >= 0 ? value / step * step : -((-value + step - 1) / step) * step
        return floor == value ? value : floor + step
    }

    public func makeIterator() -> Iterator { Iterator(self, partition: nil) }

    /// Only the events of one partition, in the same order (the skew test produces these one
    /// partition after another). Events of other partitions are planned but never rendered.
    public func events(inPartition partition: Int) -> PartitionEvents {
        PartitionEvents(generator: self, partition: partition)
    }

    /// The final alerts the seed rule must produce on this traffic, from a pass that plans every
    /// event but renders none (fast, memory bounded by the number of (principal, window) groups).
    public func expectedAlerts() -> [ExpectedAlert] {
        var oracle = ExpectedAlerts()
        var planner = Planner(self)
        while let planned = planner.next() { oracle.add(fields(of: planned.spec), eventTime: planned.eventTime) }
        return oracle.alerts
    }

    public struct PartitionEvents: Sequence, Sendable {
        let generator: TrafficGenerator
        let partition: Int
        public func makeIterator() -> Iterator { Iterator(generator, partition: partition) }
    }

    /// Yields events lazily; only the planned specials and the principals are held.
    public struct Iterator: IteratorProtocol, Sendable {
        var planner: Planner
        let partition: Int?

        init(_ generator: TrafficGenerator, partition: Int?) {
            planner = Planner(generator)
            self.partition = partition
        }

        public mutating func next() -> SimulatedEvent? {
            while let planned = planner.next() {
                if let partition, planned.partition != partition { continue }
                return planner.generator.render(planned)
            }
            return nil
        }
    }

    func fields(of spec: EventSpec) -> EventFields {
        let p = population.principals[spec.principal]
        return EventFields(
            identityType: p.identityType, arn: p.arn, accountId: p.accountId, principalId: p.principalId,
            userName: p.userName, accessKeyId: spec.accessKeyId,
            sessionIssuerArn: spec.accessKeyId?.hasPrefix("ASIA") == true ? p.issuerArn : nil,
            mfaAuthenticated: spec.accessKeyId?.hasPrefix("ASIA") == true ? p.mfa : nil,
            sourceIdentity: spec.accessKeyId?.hasPrefix("ASIA") == true && p.issuerArn != nil ? p.sourceIdentity : nil,
            sourceIPAddress: spec.sourceIP, userAgent: spec.userAgent,
            eventSource: EventCatalog.apis[spec.api].source, eventName: EventCatalog.apis[spec.api].name,
            awsRegion: p.region, errorCode: spec.failed ? "AccessDenied" : nil,
            sessionCredentialFromConsole: p.console && spec.accessKeyId?.hasPrefix("ASIA") == true)
    }

    func render(_ planned: Planned) -> SimulatedEvent {
        let f = fields(of: planned.spec)
        var rng = SplitMix64(seed: planned.renderSeed)
        let json = EventRenderer.render(
            planned.spec, fields: f, principal: population.principals[planned.spec.principal],
            eventID: planned.eventID, rng: &rng)
        return SimulatedEvent(
            json: json, eventTime: planned.eventTime, partition: planned.partition, principalArn: f.arn,
            eventID: planned.eventID, category: planned.spec.category, fields: f, ordinal: planned.ordinal)
    }
}

/// An event with its identity decided but not yet rendered.
struct Planned: Sendable {
    var spec: EventSpec
    var eventID: String
    var renderSeed: UInt64
    var partition: Int
    var ordinal: Int
    var eventTime: EventTime { EventTime(secondsSinceEpoch: spec.eventTime) }
}

/// Merges background traffic (drawn on the fly) with the planned specials, by nominal time.
struct Planner: Sendable {
    let generator: TrafficGenerator
    var background = SplitMix64(seed: 0)
    var ids = SplitMix64(seed: 0)
    var backgroundIndex = 0
    var specialIndex = 0
    var ordinal = 0
    var peeked: EventSpec?

    init(_ generator: TrafficGenerator) {
        self.generator = generator
        background = SplitMix64(seed: SplitMix64.mix(generator.configuration.seed ^ 0x5EED_0002))
        ids = SplitMix64(seed: SplitMix64.mix(generator.configuration.seed ^ 0x5EED_0003))
    }

    mutating func next() -> Planned? {
        if peeked == nil, backgroundIndex < generator.backgroundCount {
            peeked = nextBackground()
            backgroundIndex += 1
        }
        let spec: EventSpec
        if let b = peeked, specialIndex >= generator.specials.count || b.nominalMs <= generator.specials[specialIndex].nominalMs {
            spec = b
            peeked = nil
        } else if specialIndex < generator.specials.count {
            spec = generator.specials[specialIndex]
            specialIndex += 1
        } else {
            return nil
        }
        let eventID = Identifiers.uuid(&ids)
        let seed = ids.next()
        let c = generator.configuration
        let arn = generator.population.principals[spec.principal].arn
        let partition = StableHash.partition(of: c.keyed ? arn ?? eventID : eventID, partitions: c.partitions)
        defer { ordinal += 1 }
        return Planned(spec: spec, eventID: eventID, renderSeed: seed, partition: partition, ordinal: ordinal)
    }

    /// The `backgroundIndex`-th background event: nominal times are stratified over the span.
    mutating func nextBackground() -> EventSpec {
        let c = generator.configuration
        let pop = generator.population
        let span = c.durationSeconds * 1000
        let n = Int64(generator.backgroundCount)
        let slot = span / n
        let nominalMs = c.startSeconds * 1000 + Int64(backgroundIndex) * span / n + (slot > 0 ? Int64(background.below(Int(slot))) : 0)
        let lag = Int64(background.below(Int(c.maxDisorderSeconds) + 1))
        let eventTime = max(c.startSeconds, nominalMs / 1000 - lag)
        let api = background.below(EventCatalog.apis.count)
        let failed = background.chance(0.03)
        let kind = background.weighted(c.mix.weights)
        func spec(_ who: Int, _ category: TrafficCategory, _ ip: String, _ agent: String?, _ key: String?) -> EventSpec {
            EventSpec(principal: who, category: category, sourceIP: ip, userAgent: agent, accessKeyId: key,
                      eventTime: eventTime, nominalMs: nominalMs, api: api, failed: failed)
        }
        switch kind {
        case 0:
            let who = pop.normal[background.below(pop.normal.count)]
            let p = pop.principals[who]
            let text = p.homeTexts.count > 1 && background.chance(0.3) ? p.homeTexts[1] : p.homeTexts[0]
            return spec(who, .normal, text, background.pick(p.userAgents), p.sessionKey)
        case 1:
            let who = pop.longTerm[background.below(pop.longTerm.count)]
            let p = pop.principals[who]
            if background.chance(0.15) { return spec(who, .longTermKey, p.homeAddress, p.userAgents[0], p.sessionKey) }
            return spec(who, .longTermKey, background.pick(p.addressPool), background.pick(Population.ordinaryAgents), p.longTermKey)
        case 2:
            let who = pop.service[background.below(pop.service.count)]
            let p = pop.principals[who]
            if background.chance(0.1) { return spec(who, .serviceCaller, p.homeAddress, p.userAgents[0], p.sessionKey) }
            let service = background.pick(Population.serviceNames)
            return spec(who, .serviceCaller, service, service, p.sessionKey)
        case 3:
            let who = pop.automation[background.below(pop.automation.count)]
            let p = pop.principals[who]
            if background.chance(0.1) { return spec(who, .automation, p.homeAddress, background.pick(Population.ordinaryAgents), p.sessionKey) }
            return spec(who, .automation, background.pick(p.addressPool), background.pick(p.userAgents), p.sessionKey)
        case 4:
            let who = pop.other[background.below(pop.other.count)]
            let p = pop.principals[who]
            let ip = p.identityType == "AWSService" && background.chance(0.5) ? (p.invokedBy ?? "AWS Internal") : background.pick(p.addressPool)
            return spec(who, .otherIdentityType, ip, background.pick(p.userAgents), p.sessionKey)
        default:
            let who = pop.missingArn[background.below(pop.missingArn.count)]
            let p = pop.principals[who]
            return spec(who, .missingArn, background.pick(p.addressPool), p.userAgents[0], p.sessionKey)
        }
    }
}
