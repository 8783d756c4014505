public import CloudTrail

/// `rule.suppression`: what makes later windows update one incident instead of raising new alerts.
public struct SuppressionConfiguration: Sendable, Hashable {
    public enum By: String, Sendable, Hashable, CaseIterable {
        /// No suppression: every window is its own alert (the default).
        case off
        /// The window's grouping key (principal ARN, or access key id).
        case groupingKey = "grouping_key"
        /// The access key: a stolen token stays one incident while its owner's session renews.
        case accessKeyId = "access_key_id"
        /// The role or user that issued the session (`SessionIssuer.arn`): every session of one role.
        case issuer
    }

    public var by: By = .off
    /// `for`: the longest quiet time between an incident's last window and a later window that still
    /// continues it, in event time; a multiple of the window size.
    public var period: Duration = .seconds(3_600)

    public init(by: By = .off, period: Duration = .seconds(3_600)) {
        self.by = by
        self.period = period
    }

    public var isEnabled: Bool { by != .off }
    /// Whether one suppression key can span principals: then windows are partitioned by issuer.
    public var routesByIssuer: Bool { by == .issuer }
}

/// The issuer of a session, from its principal ARN: the suppression key and the partitioning key of
/// `by: issuer`. Derived rather than read from `sessionContext.sessionIssuer.arn` (the alert's
/// `session.issuer_arn`), so that a window whose events lack a session context keys the same incident
/// and lands on the same partition.
public enum SessionIssuer {
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` -> `arn:aws:iam::ACCOUNT:role/ROLE` (the
    /// role's path is not in the session ARN, so it is not in this one); any other ARN (an IAM user,
    /// whose `GetSessionToken` credentials it issued itself) is its own issuer.
    public static func arn(ofPrincipal arn: String) -> String {
        let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[2] == "sts", parts[5].hasPrefix("assumed-role/") else { return arn }
        let resource = parts[5].dropFirst("assumed-role/".count)
        guard let slash = resource.lastIndex(of: "/") else { return arn }
        return "\(parts[0]):\(parts[1]):iam::\(parts[4]):role/\(resource[..<slash])"
    }

    /// The bytes of a principal ARN that decide its issuer: an assumed-role ARN without its session
    /// name, any other ARN whole. Two principals of one issuer have equal prefixes, so partitioning
    /// by these keeps every window of an issuer on one partition (and one scan thread).
    public static func partitioningPrefix(_ arn: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        let marker = Array(":assumed-role/".utf8)
        guard arn.count > marker.count, let slash = arn.lastIndex(of: UInt8(ascii: "/")) else { return arn }
        var i = 0
        var found = false
        while i + marker.count <= slash {
            if arn[i] == marker[0], zip(marker.indices, i...).allSatisfy({ marker[$0] == arn[$1] }) {
                found = true
                break
            }
            i += 1
        }
        guard found, slash > i + marker.count else { return arn }
        return UnsafeBufferPointer(rebasing: arn[..<slash])
    }
}

extension KeptEvent {
    /// What the event is partitioned by (repartition topic, scan threads): the grouping key, or with
    /// suppression by issuer the issuer's part of the principal ARN (`SessionIssuer.partitioningPrefix`).
    public func partitioningKeyUTF8(byIssuer: Bool) -> UnsafeBufferPointer<UInt8> {
        guard byIssuer, let arn = event.utf8(.arn) else { return groupingKeyUTF8 }
        return SessionIssuer.partitioningPrefix(arn)
    }
}

/// What the incidents of one detector partition carry across a restart: everything but the
/// contribution of windows still open, which the replay from the safe offset rebuilds (their alerts
/// come again, counted and not sent, and land in the same incidents through `windows`).
public struct SuppressionCheckpoint: Codable, Sendable, Hashable {
    public struct WindowRef: Codable, Sendable, Hashable, Comparable {
        public var start: Int64
        public var key: String
        public static func < (a: Self, b: Self) -> Bool {
            a.start != b.start ? a.start < b.start : a.key.utf8.lexicographicallyPrecedes(b.key.utf8)
        }
    }

    struct Incident: Codable, Sendable, Hashable {
        var id: String
        var key: String
        var groupingKey: String
        var arn: String
        var type: String
        var account: String?
        var firstStart: Int64
        var lastEnd: Int64
        /// Revisions emitted, less those the open windows' replayed alerts will count again.
        var revision: Int
        var firedWindows: Int
        var fired: IncidentEvidence?
        /// Fired windows still within allowed lateness, with their latest evidence.
        var settling: [WindowRef: IncidentEvidence]
        /// Open windows that joined: their alerts come again in the replay.
        var open: [WindowRef]
    }

    var incidents: [Incident]
    /// Suppression key -> id of the incident later windows join.
    var current: [String: String]

    /// Incidents held.
    public var incidentCount: Int { incidents.count }
}

/// A bounded, mergeable copy of what an alert's evidence says; incidents merge these.
struct IncidentEvidence: Codable, Sendable, Hashable {
    struct List: Codable, Sendable, Hashable {
        var values: [String]
        var count: Int
        init(values: [String], count: Int) {
            self.values = values
            self.count = count
        }
        init(_ e: EvidenceList) { self.init(values: e.values, count: e.count) }
        var list: EvidenceList { EvidenceList(values: values, count: count) }
        var complete: Bool { values.count == count }

        /// The union, its smallest `limit` values kept; the count is exact while both lists were
        /// complete, else a lower bound (the larger count, or the union's size).
        func merged(_ other: List, limit: Int) -> List {
            var union = Set(values)
            union.formUnion(other.values)
            let sorted = union.sorted(by: Self.byBytes)
            return List(values: Array(sorted.prefix(limit)), count: Swift.max(count, other.count, union.count))
        }

        /// The same for addresses, in the detector's order: IPv4 before IPv6, numerically (a `/64`
        /// suffix aside), each parsed once.
        func mergedAddresses(_ other: List, limit: Int) -> List {
            var union = Set(values)
            union.formUnion(other.values)
            let keyed = union.map { text -> (key: (UInt8, UInt64, UInt64), text: String) in
                (SourceAddress(parsing: text.hasSuffix("/64") ? String(text.dropLast(3)) : text).sortKey, text)
            }
            let sorted = keyed.sorted { a, b in a.key != b.key ? a.key < b.key : Self.byBytes(a.text, b.text) }
            return List(values: sorted.prefix(limit).map { $0.text }, count: Swift.max(count, other.count, union.count))
        }

        static func byBytes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
    }

    struct Range: Codable, Sendable, Hashable {
        var topic: String
        var partition: Int32
        var first: Int64
        var last: Int64
    }

    struct Detail: Codable, Sendable, Hashable {
        var address: String
        var asn: UInt32?
        var organization: String?
        var country: String?
        var city: String?
    }

    struct Network: Codable, Sendable, Hashable {
        var details: [Detail]
        var networks: List
        var cities: List
        var addressUserAgents: List
    }

    var addresses: List
    var addressesExact: Bool
    var accessKeyIds: List
    var userAgents: List
    var eventSources: List
    var eventNames: List
    var awsRegions: List
    var eventCount: Int
    var firstSeen: Int64
    var lastSeen: Int64
    var eventIDs: [String]
    var inputs: [Range]
    var inputCount: Int
    var groupingKeys: List
    var network: Network?
    /// The windows' session facts, combined as one window combines its events' (`SessionEvidence`).
    var issuerArn: String?
    var sourceIdentity: String?
    var sessionCreatedAt: Int64?
    /// Bit 0: a window said MFA true; bit 1: a window said false.
    var mfaSeen: UInt8?

    init(_ a: Alert) {
        addresses = List(a.sourceAddresses)
        addressesExact = a.sourceAddressCountIsExact
        accessKeyIds = List(a.accessKeyIds)
        userAgents = List(a.userAgents)
        eventSources = List(a.eventSources)
        eventNames = List(a.eventNames)
        awsRegions = List(a.awsRegions)
        eventCount = a.eventCount
        firstSeen = a.firstSeen.millisecondsSinceEpoch
        lastSeen = a.lastSeen.millisecondsSinceEpoch
        eventIDs = a.evidence.sampleEventIDs
        inputs = a.evidence.inputRanges.map { Range(topic: $0.topic, partition: $0.partition, first: $0.firstOffset, last: $0.lastOffset) }
        inputCount = a.evidence.inputRangeCount
        groupingKeys = List(values: [a.groupingKey], count: 1)
        issuerArn = a.session.issuerArn
        sourceIdentity = a.session.sourceIdentity
        sessionCreatedAt = a.session.createdAt?.millisecondsSinceEpoch
        mfaSeen = a.session.mfaAuthenticated.map { $0 ? 1 : 2 }
        network = a.network.map { n in
            Network(details: n.addresses.map { d in
                        Detail(address: d.address, asn: d.enrichment.asn, organization: d.enrichment.asOrganization,
                               country: d.enrichment.countryCode, city: d.enrichment.city)
                    },
                    networks: List(n.networks), cities: List(n.cities), addressUserAgents: List(n.addressUserAgents))
        }
    }

    func merged(_ o: IncidentEvidence, limits: EvidenceLimits) -> IncidentEvidence {
        var m = self
        m.addresses = addresses.mergedAddresses(o.addresses, limit: limits.sourceAddresses)
        m.addressesExact = addressesExact && o.addressesExact && (addresses.complete && o.addresses.complete)
        m.accessKeyIds = accessKeyIds.merged(o.accessKeyIds, limit: limits.accessKeyIds)
        m.userAgents = userAgents.merged(o.userAgents, limit: limits.userAgents)
        m.eventSources = eventSources.merged(o.eventSources, limit: limits.eventSources)
        m.eventNames = eventNames.merged(o.eventNames, limit: limits.eventNames)
        m.awsRegions = awsRegions.merged(o.awsRegions, limit: limits.awsRegions)
        m.eventCount = eventCount + o.eventCount
        m.firstSeen = Swift.min(firstSeen, o.firstSeen)
        m.lastSeen = Swift.max(lastSeen, o.lastSeen)
        m.eventIDs = Array(Set(eventIDs + o.eventIDs).sorted(by: List.byBytes).prefix(limits.sampleEventIDs))
        var ranges: [String: Range] = [:]
        func rangeKey(_ r: Range) -> String { "\(r.partition)|\(r.topic)" }
        for r in inputs + o.inputs {
            if let e = ranges[rangeKey(r)] {
                ranges[rangeKey(r)] = Range(topic: r.topic, partition: r.partition, first: Swift.min(e.first, r.first), last: Swift.max(e.last, r.last))
            } else {
                ranges[rangeKey(r)] = r
            }
        }
        let sortedRanges = ranges.values.sorted { a, b in
            a.topic != b.topic ? List.byBytes(a.topic, b.topic) : (a.partition, a.first) < (b.partition, b.first)
        }
        m.inputs = Array(sortedRanges.prefix(limits.inputRanges))
        m.inputCount = Swift.max(inputCount, o.inputCount, ranges.count)
        m.groupingKeys = groupingKeys.merged(o.groupingKeys, limit: limits.accessKeyIds)
        func smallest(_ x: String?, _ y: String?) -> String? {
            guard let x, let y else { return x ?? y }
            return List.byBytes(y, x) ? y : x
        }
        m.issuerArn = smallest(issuerArn, o.issuerArn)
        m.sourceIdentity = smallest(sourceIdentity, o.sourceIdentity)
        m.sessionCreatedAt = [sessionCreatedAt, o.sessionCreatedAt].compactMap { $0 }.min()
        m.mfaSeen = (mfaSeen ?? 0) | (o.mfaSeen ?? 0) == 0 ? nil : (mfaSeen ?? 0) | (o.mfaSeen ?? 0)
        switch (network, o.network) {
        case (let a?, let b?):
            m.network = Network(
                details: a.details + b.details,
                networks: a.networks.merged(b.networks, limit: limits.sourceAddresses),
                cities: a.cities.merged(b.cities, limit: limits.sourceAddresses),
                addressUserAgents: a.addressUserAgents.merged(b.addressUserAgents, limit: limits.userAgents))
        case (let a?, nil): m.network = a
        case (nil, let b?): m.network = b
        case (nil, nil): m.network = nil
        }
        if let n = m.network {
            // Each listed address's enrichment, in the list's order (the first one seen, if two differ).
            var byAddress: [String: Detail] = [:]
            for d in n.details where byAddress[d.address] == nil { byAddress[d.address] = d }
            m.network!.details = m.addresses.values.compactMap { byAddress[$0] }
        }
        return m
    }
}

/// The suppression operator: fed a detector partition's window alerts in order, it emits the
/// incidents' revisions. Pure and deterministic: the same alerts and watermarks give the same incidents.
///
/// A window alert joins the incident of its window when the window already joined one, else the
/// current incident of its suppression key when the window starts less than `for` after the
/// incident's last window ends (or ends less than `for` before its first starts), else it opens a new
/// incident, whose id is that alert's `alert_id`. Every window alert absorbed is one `open` revision of
/// its incident, carrying the union of the incident's windows' evidence (with `emitOpenAlerts` off,
/// nothing is emitted before the close). The incident closes, with one `final` revision, once the
/// watermark reaches its last window's end + `for` + allowed lateness: no window can join it or
/// change it after that (with `for` a multiple of the window size, the last window that could join
/// has fired by then).
struct IncidentSuppressor: Sendable {
    typealias WindowRef = SuppressionCheckpoint.WindowRef

    struct Incident: Sendable {
        var id: String
        var key: String
        var groupingKey: String
        var principal: AlertPrincipal
        var firstStart: Int64
        var lastEnd: Int64
        var revision = 0
        var firedWindows = 0
        var fired: IncidentEvidence?
        var settling: [WindowRef: IncidentEvidence] = [:]
        var open: [WindowRef: IncidentEvidence] = [:]
        /// Revisions that the open windows' alerts made: a replay counts them again.
        var openRevisions: [WindowRef: Int] = [:]
        /// Open windows restored from a checkpoint, waiting for their replayed alerts.
        var restoredOpen: Set<WindowRef> = []

        var windowCount: Int { firedWindows + settling.count + Set(open.keys).union(restoredOpen).count }
    }

    let configuration: SuppressionConfiguration
    let windowMilliseconds: Int64
    let periodMilliseconds: Int64
    let latenessMilliseconds: Int64
    let limits: EvidenceLimits
    let emitOpen: Bool
    let rule: RuleConfiguration
    private(set) var incidents: [String: Incident] = [:]
    /// Suppression key -> the incident later windows of that key may join.
    private var current: [String: String] = [:]
    /// Window -> its incident, while the window can still alert (open, or within lateness).
    private var windows: [WindowRef: String] = [:]
    /// No incident closes and no window settles before the watermark reaches this.
    private var nextDue: Int64 = .max

    init(_ detector: DetectorConfiguration) {
        configuration = detector.suppression
        windowMilliseconds = detector.rule.windowSize.milliseconds
        periodMilliseconds = detector.suppression.period.milliseconds
        latenessMilliseconds = detector.allowedLateness.milliseconds
        limits = detector.evidenceLimits
        emitOpen = detector.emitOpenAlerts
        rule = detector.rule
    }

    /// The suppression key of a window alert (candidates, best first).
    func keys(of a: Alert) -> [String] {
        switch configuration.by {
        case .off, .groupingKey: return [a.groupingKey]
        case .accessKeyId:
            return a.accessKeyIds.values.isEmpty ? [a.groupingKey] : a.accessKeyIds.values.sorted(by: IncidentEvidence.List.byBytes)
        case .issuer: return [SessionIssuer.arn(ofPrincipal: a.principal.arn)]
        }
    }

    private func isNear(_ i: Incident, start: Int64, end: Int64) -> Bool {
        start < i.lastEnd + periodMilliseconds && end + periodMilliseconds > i.firstStart
    }

    /// Absorbs the window alerts in order; returns the incident revisions to send. `watermark`: the
    /// partition's, after the alerts were made.
    mutating func absorb(_ alerts: [Alert], watermark: Int64?) -> [Alert] {
        var out: [Alert] = []
        for a in alerts {
            if let emitted = absorb(a, watermark: watermark) { out.append(emitted) }
        }
        return out
    }

    mutating func absorb(_ a: Alert, watermark: Int64?) -> Alert? {
        let start = a.window.start.millisecondsSinceEpoch, end = a.window.end.millisecondsSinceEpoch
        let ref = WindowRef(start: start, key: a.groupingKey)
        let id: String
        if let known = windows[ref], incidents[known] != nil {
            id = known
        } else {
            let candidates = keys(of: a)
            var joined: String?
            for k in candidates {
                if let i = current[k].flatMap({ incidents[$0] }), isNear(i, start: start, end: end) {
                    joined = i.id
                    break
                }
            }
            if let joined {
                id = joined
            } else {
                id = a.id
                let key = candidates[0]
                incidents[id] = Incident(id: id, key: key, groupingKey: a.groupingKey, principal: a.principal,
                                         firstStart: start, lastEnd: end)
                current[key] = id
            }
            windows[ref] = id
        }
        var incident = incidents[id]!
        incident.firstStart = Swift.min(incident.firstStart, start)
        incident.lastEnd = Swift.max(incident.lastEnd, end)
        incident.restoredOpen.remove(ref)
        let evidence = IncidentEvidence(a)
        switch a.status {
        case .open:
            incident.open[ref] = evidence
            incident.openRevisions[ref, default: 0] += 1
        case .final:
            incident.open[ref] = nil
            incident.openRevisions[ref] = nil
            incident.settling[ref] = evidence
        }
        // Only what is sent counts: with open alerts off, the final is revision 1.
        if emitOpen { incident.revision += 1 }
        if a.status == .final {
            let due = end + latenessMilliseconds
            if let watermark, due <= watermark { settle(ref, in: &incident) } else { nextDue = Swift.min(nextDue, due) }
        }
        nextDue = Swift.min(nextDue, incident.lastEnd + periodMilliseconds + latenessMilliseconds)
        incidents[id] = incident
        guard emitOpen else { return nil }
        return emit(incident, status: .open, partition: a.evidence.detectPartition, now: a.detectedAt)
    }

    /// A fired window past its lateness: its evidence joins the incident's settled part.
    private mutating func settle(_ ref: WindowRef, in incident: inout Incident) {
        guard let e = incident.settling.removeValue(forKey: ref) else { return }
        incident.fired = incident.fired.map { $0.merged(e, limits: limits) } ?? e
        incident.firedWindows += 1
        windows[ref] = nil
    }

    /// The watermark rose: settles windows past lateness and closes incidents past `for`, in order
    /// of their first window, then grouping key.
    mutating func advance(to watermark: Int64?, partition: Int32, now: EventTime) -> [Alert] {
        guard let watermark, watermark >= nextDue else { return [] }
        var closing: [Incident] = []
        var next = Int64.max
        for id in incidents.keys {
            var incident = incidents[id]!
            for (ref, _) in incident.settling where ref.start + windowMilliseconds + latenessMilliseconds <= watermark {
                settle(ref, in: &incident)
            }
            for ref in incident.settling.keys { next = Swift.min(next, ref.start + windowMilliseconds + latenessMilliseconds) }
            let closesAt = incident.lastEnd + periodMilliseconds + latenessMilliseconds
            if closesAt <= watermark, incident.open.isEmpty {
                closing.append(incident)
                incidents[id] = nil
            } else {
                incidents[id] = incident
                next = Swift.min(next, closesAt)
            }
        }
        nextDue = next
        closing.sort { a, b in
            a.firstStart != b.firstStart ? a.firstStart < b.firstStart : a.groupingKey.utf8.lexicographicallyPrecedes(b.groupingKey.utf8)
        }
        var out: [Alert] = []
        for var incident in closing {
            if current[incident.key] == incident.id { current[incident.key] = nil }
            for ref in windows.keys where windows[ref] == incident.id { windows[ref] = nil }
            incident.revision += 1
            // Only a restored incident whose windows never alerted again has no evidence: nothing to say.
            if let a = emit(incident, status: .final, partition: partition, now: now) { out.append(a) }
        }
        return out
    }

    /// The incident's evidence: the settled part, then fired windows within lateness, then open windows.
    private func evidence(_ i: Incident) -> IncidentEvidence? {
        var merged = i.fired
        for ref in i.settling.keys.sorted() { merged = merged.map { $0.merged(i.settling[ref]!, limits: limits) } ?? i.settling[ref]! }
        for ref in i.open.keys.sorted() { merged = merged.map { $0.merged(i.open[ref]!, limits: limits) } ?? i.open[ref]! }
        return merged
    }

    private func emit(_ i: Incident, status: Alert.Status, partition: Int32, now: EventTime) -> Alert? {
        guard let e = evidence(i) else { return nil }
        var a = Alert(
            id: i.id, status: status, revision: i.revision, groupingKey: i.groupingKey, principal: i.principal,
            window: TimeWindow(start: EventTime(millisecondsSinceEpoch: i.firstStart), end: EventTime(millisecondsSinceEpoch: i.lastEnd)),
            sourceAddresses: e.addresses.list, sourceAddressCountIsExact: e.addressesExact,
            accessKeyIds: e.accessKeyIds.list, userAgents: e.userAgents.list, eventSources: e.eventSources.list,
            eventNames: e.eventNames.list, awsRegions: e.awsRegions.list, eventCount: e.eventCount,
            firstSeen: EventTime(millisecondsSinceEpoch: e.firstSeen), lastSeen: EventTime(millisecondsSinceEpoch: e.lastSeen),
            rule: AlertRule(rule), detectedAt: now,
            evidence: AlertEvidence(
                sampleEventIDs: e.eventIDs,
                inputRanges: e.inputs.map { OriginRange(topic: $0.topic, partition: $0.partition, firstOffset: $0.first, lastOffset: $0.last) },
                inputRangeCount: e.inputCount, detectPartition: partition))
        if let n = e.network {
            a.network = AlertNetworks(
                addresses: n.details.map { d in
                    AddressDetail(address: d.address, enrichment: AddressEnrichment(asn: d.asn, asOrganization: d.organization,
                                                                                    countryCode: d.country, city: d.city))
                },
                networks: n.networks.list, cities: n.cities.list, addressUserAgents: n.addressUserAgents.list)
        }
        if rule.minimumFidelity != nil {
            a.activityType = ActivityType.classify(addresses: e.addresses.count, networks: e.network?.networks.count ?? 0,
                                                   cities: e.network?.cities.count ?? 0, userAgents: e.userAgents.count)
        }
        a.session = SessionFacts(
            issuerArn: e.issuerArn, createdAt: e.sessionCreatedAt.map(EventTime.init(millisecondsSinceEpoch:)),
            mfaAuthenticated: e.mfaSeen.map { $0 & 2 != 0 ? false : true }, sourceIdentity: e.sourceIdentity)
        a.suppression = AlertSuppression(by: configuration.by.rawValue, key: i.key, windowCount: i.windowCount,
                                         groupingKeys: e.groupingKeys.list)
        return a
    }

    var incidentCount: Int { incidents.count }

    // MARK: checkpoint

    func checkpoint() -> SuppressionCheckpoint {
        let saved = incidents.values.sorted { $0.id < $1.id }.map { i in
            SuppressionCheckpoint.Incident(
                id: i.id, key: i.key, groupingKey: i.groupingKey, arn: i.principal.arn, type: i.principal.type,
                account: i.principal.accountId, firstStart: i.firstStart, lastEnd: i.lastEnd,
                revision: i.revision - i.openRevisions.values.reduce(0, +), firedWindows: i.firedWindows, fired: i.fired,
                settling: i.settling, open: Set(i.open.keys).union(i.restoredOpen).sorted())
        }
        return SuppressionCheckpoint(incidents: saved, current: current)
    }

    /// Starts from a checkpoint (replacing any state); the replay that follows brings the open
    /// windows' alerts again.
    mutating func restore(_ cp: SuppressionCheckpoint) {
        incidents = [:]
        windows = [:]
        current = cp.current
        nextDue = .min
        for s in cp.incidents {
            var i = Incident(id: s.id, key: s.key, groupingKey: s.groupingKey,
                             principal: AlertPrincipal(arn: s.arn, type: s.type, accountId: s.account),
                             firstStart: s.firstStart, lastEnd: s.lastEnd)
            i.revision = s.revision
            i.firedWindows = s.firedWindows
            i.fired = s.fired
            i.settling = s.settling
            i.restoredOpen = Set(s.open)
            for ref in s.settling.keys { windows[ref] = s.id }
            for ref in s.open { windows[ref] = s.id }
            incidents[s.id] = i
        }
    }
}

/// What an incident alert says about its suppression (`suppression` in the alert).
public struct AlertSuppression: Sendable, Hashable {
    /// `rule.suppression.by`.
    public var by: String
    /// The suppression key: grouping key, access key id or issuer ARN.
    public var key: String
    /// Windows that met the rule and joined the incident.
    public var windowCount: Int
    /// The grouping keys (principals, or access keys) of those windows, bounded like access key ids.
    public var groupingKeys: EvidenceList

    public init(by: String, key: String, windowCount: Int, groupingKeys: EvidenceList) {
        self.by = by
        self.key = key
        self.windowCount = windowCount
        self.groupingKeys = groupingKeys
    }
}
