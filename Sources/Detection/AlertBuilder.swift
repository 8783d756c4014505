import CloudTrail

// The alert builder: what a window's state says when it emits. The operator (`WindowedDetector`)
// decides when a window emits and counts the revision; this turns the state into the `Alert`.

/// Turns a window's state into the `Alert` of one emission: the evidence lists, the networks with
/// each listed address's enrichment, the activity type and the session facts.
struct AlertBuilder: Sendable {
    let rule: RuleConfiguration

    /// The alert of the window's state as it is (revision included). Drops the network details of
    /// addresses no longer listed, which is why it takes the state `inout`.
    func alert(
        _ status: Alert.Status, windowState s: inout WindowState, key: String, window: TimeWindow,
        partition: Int32, now: EventTime
    ) -> Alert {
        let addressValues = s.addresses.values.map { address -> String in
            if rule.addressNormalization == .ipv6Prefix64, case .ipv6 = address {
                return address.canonicalText + "/64"
            }
            return address.canonicalText
        }
        func list(_ d: SmallDistinct<String>) -> EvidenceList { EvidenceList(values: d.values, count: d.count) }
        func list(_ d: SmallDistinct<CompactText>) -> EvidenceList {
            EvidenceList(values: d.values.map(\.string), count: d.count)
        }
        var networkEvidence: AlertNetworks?
        if let box = s.network {
            let listed = s.addresses.values
            if box.value.details.count > listed.count {
                if !isKnownUniquelyReferenced(&s.network!) { s.network = NetworkEvidence.Box(box.value) }
                s.network!.value.prune(keeping: listed)
            }
            let n = s.network!.value
            networkEvidence = AlertNetworks(
                addresses: listed.compactMap { address in
                    n.details[address].map { AddressDetail(address: address.canonicalText, enrichment: $0) }
                },
                networks: list(n.networks), cities: list(n.cities), addressUserAgents: list(n.addressAgents))
        }
        var activity: ActivityType?
        if rule.minimumFidelity != nil {
            let n = s.network?.value
            activity = ActivityType.classify(
                addresses: s.addressCount, networks: n?.networks.count ?? 0, cities: n?.cities.count ?? 0,
                userAgents: s.userAgents.count)
        }
        return Alert(
            id: Alert.id(ruleID: rule.id, groupingKey: key, windowStart: window.start),
            status: status,
            revision: Int(s.revision),
            groupingKey: key,
            principal: AlertPrincipal(arn: s.principalArn, type: s.principalType, accountId: s.accountId),
            window: window,
            sourceAddresses: EvidenceList(values: addressValues, count: s.addressCount),
            sourceAddressCountIsExact: !s.addresses.isSaturated,
            accessKeyIds: list(s.accessKeyIds),
            userAgents: list(s.userAgents),
            eventSources: list(s.eventSources),
            eventNames: list(s.eventNames),
            awsRegions: list(s.awsRegions),
            eventCount: Int(s.eventCount),
            firstSeen: EventTime(millisecondsSinceEpoch: s.firstSeen),
            lastSeen: EventTime(millisecondsSinceEpoch: s.lastSeen),
            rule: AlertRule(rule),
            detectedAt: now,
            evidence: AlertEvidence(
                sampleEventIDs: s.eventIDs.values.map(\.string),
                inputRanges: s.origins.values,
                inputRangeCount: s.origins.count,
                detectPartition: partition
            ),
            network: networkEvidence,
            activityType: activity,
            session: s.session.facts
        )
    }
}
