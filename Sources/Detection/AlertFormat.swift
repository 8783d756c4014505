import CloudTrail

/// How an alert is written on the output topic and by `scan` (`output.format`): the same `Alert`,
/// as tokentrail's own JSON or as the record a SIEM or data lake reads without a mapping of its own.
public enum AlertFormat: String, Sendable, Hashable, CaseIterable {
    /// tokentrail's own JSON (docs/alerts.md, schema/alert.schema.json).
    case native
    /// An OCSF Detection Finding (`OCSFAlertEncoder.ocsfVersion`), for Amazon Security Lake and OCSF tooling.
    case ocsf
    /// An Elastic Common Schema document (`ECSAlertEncoder.ecsVersion`), beside Elastic's AWS CloudTrail data.
    case ecs

    /// The record value.
    public func encode(_ alert: Alert) -> [UInt8] {
        switch self {
        case .native: alert.json()
        case .ocsf: OCSFAlertEncoder.encode(alert)
        case .ecs: ECSAlertEncoder.encode(alert)
        }
    }

    /// The `content-type` header of an alert record: which format, and which version of its schema.
    public var contentType: String {
        switch self {
        case .native: "application/json"
        case .ocsf: "application/json; format=ocsf; version=\(OCSFAlertEncoder.ocsfVersion)"
        case .ecs: "application/json; format=ecs; version=\(ECSAlertEncoder.ecsVersion)"
        }
    }
}

/// What the OCSF and ECS encoders derive the same way from an alert.
enum AlertFacts {
    /// The user agents seen with each listed address: known only when enrichment pairs them
    /// (`address_user_agents`); empty otherwise.
    static func userAgentsByAddress(_ alert: Alert) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for pair in alert.network?.addressUserAgents.values ?? [] {
            let parts = pair.split(separator: " - ", maxSplits: 1, omittingEmptySubsequences: false)
            out[String(parts[0]), default: []].append(parts.count > 1 ? String(parts[1]) : "")
        }
        return out
    }

    /// A listed address as an IP field holds it: under `address_normalization: ipv6_prefix64` an
    /// IPv6 value is its /64 (`2001:db8:4::/64`), written as the prefix's first address.
    static func ip(_ value: String) -> String {
        value.hasSuffix("/64") ? String(value.dropLast(3)) : value
    }

    /// The enrichment of each listed address the databases knew.
    static func enrichmentByAddress(_ alert: Alert) -> [String: AddressEnrichment] {
        var out: [String: AddressEnrichment] = [:]
        for detail in alert.network?.addresses ?? [] { out[detail.address] = detail.enrichment }
        return out
    }

    /// The name in a principal ARN: the user of `user/path/name`, the role of
    /// `assumed-role/role/session`, the federated user, `root`; nil for anything else.
    static func principalName(_ arn: String) -> String? {
        let fields = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard fields.count == 6 else { return nil }
        let resource = fields[5].split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch resource.first {
        case "user", "federated-user": return resource.count >= 2 ? resource.last : nil
        case "assumed-role": return resource.count >= 3 ? resource[1] : nil
        case "root": return "root"
        default: return resource.count == 1 && resource[0] == "root" ? "root" : nil
        }
    }

    /// One sentence a responder reads first.
    static func summary(_ alert: Alert) -> String {
        let shown = alert.sourceAddresses.values.joined(separator: ", ")
        let more = alert.sourceAddresses.count > alert.sourceAddresses.values.count
            ? " and \(alert.sourceAddresses.count - alert.sourceAddresses.values.count) more" : ""
        let keys = alert.accessKeyIds.values.joined(separator: ", ")
        return "AWS credentials of \(alert.principal.arn) (access key \(keys)) used from \(alert.sourceAddresses.count) "
            + "source addresses (\(shown)\(more)) between \(RFC3339.format(alert.firstSeen)) and "
            + "\(RFC3339.format(alert.lastSeen)), \(alert.eventCount) events in the window "
            + "\(RFC3339.format(alert.window.start)) to \(RFC3339.format(alert.window.end))."
    }

    /// The rule's description.
    static let ruleDescription = "One AWS session token used from several source addresses within one "
        + "event-time window: a stolen temporary credential used beside its legitimate owner."

    static let techniqueURL = "https://attack.mitre.org/techniques/T1078/"
    static let subtechniqueURL = "https://attack.mitre.org/techniques/T1078/004/"
    static func tacticURL(_ id: String) -> String { "https://attack.mitre.org/tactics/\(id)/" }
    static let parentTechnique = (id: "T1078", name: "Valid Accounts")
    static let subtechniqueName = "Cloud Accounts"

    /// tokentrail's own facts under their native names (OCSF `unmapped.tokentrail`, ECS
    /// `tokentrail`), less `omit`: the ones the format has a field for. With those fields, the native alert.
    static func extras(_ alert: Alert, omit: Set<String>) -> JSONNode {
        var o = JSONObject()
        o["alert_id"] = .string(alert.id)
        o["status"] = .string(alert.status.rawValue)
        o["revision"] = .int(alert.revision)
        o["schema_version"] = .int(Alert.schemaVersion)
        o["grouping_key"] = .string(alert.groupingKey)
        o["detected_at"] = .string(RFC3339.format(alert.detectedAt))
        o["first_seen"] = .string(RFC3339.format(alert.firstSeen))
        o["last_seen"] = .string(RFC3339.format(alert.lastSeen))
        o["window"] = ["start": .string(RFC3339.format(alert.window.start)), "end": .string(RFC3339.format(alert.window.end))]
        o["event_count"] = .int(alert.eventCount)
        o["principal"] = [
            "arn": .string(alert.principal.arn), "type": .string(alert.principal.type),
        ]
        if let account = alert.principal.accountId, case .object(var p) = o["principal"]! {
            p["account_id"] = .string(account)
            o["principal"] = .object(p)
        }
        o["source_addresses"] = [
            "values": .strings(alert.sourceAddresses.values), "count": .int(alert.sourceAddresses.count),
            "count_exact": .bool(alert.sourceAddressCountIsExact),
        ]
        o["access_key_ids"] = .strings(alert.accessKeyIds.values)
        o["user_agents"] = .strings(alert.userAgents.values)
        o["event_sources"] = .strings(alert.eventSources.values)
        o["event_names"] = .strings(alert.eventNames.values)
        o["aws_regions"] = .strings(alert.awsRegions.values)
        var counts: [String: JSONNode] = [
            "access_key_ids": .int(alert.accessKeyIds.count), "aws_regions": .int(alert.awsRegions.count),
            "event_names": .int(alert.eventNames.count), "event_sources": .int(alert.eventSources.count),
            "user_agents": .int(alert.userAgents.count),
        ]
        if let network = alert.network {
            counts["address_user_agents"] = .int(network.addressUserAgents.count)
            counts["cities"] = .int(network.cities.count)
            counts["networks"] = .int(network.networks.count)
            o["networks"] = .strings(network.networks.values)
            o["cities"] = .strings(network.cities.values)
        }
        o["distinct_counts"] = .object(counts)
        if let activityType = alert.activityType {
            o["activity_type"] = .string(activityType.rawValue)
            if let fidelity = activityType.fidelity { o["fidelity"] = .string(fidelity.rawValue) }
        }
        o["evidence"] = [
            "detect_partition": .int(Int(alert.evidence.detectPartition)),
            "event_ids": .strings(alert.evidence.sampleEventIDs),
            "input": .array(alert.evidence.inputRanges.map { r in
                ["topic": .string(r.topic), "partition": .int(Int(r.partition)),
                 "first_offset": .int(Int(r.firstOffset)), "last_offset": .int(Int(r.lastOffset))]
            }),
            "input_count": .int(alert.evidence.inputRangeCount),
        ]
        o["session"] = sessionNode(alert.session)
        o["response"] = alert.response.node
        if let s = alert.suppression {
            o["suppression"] = [
                "by": .string(s.by), "key": .string(s.key), "window_count": .int(s.windowCount),
                "grouping_keys": ["values": .strings(s.groupingKeys.values), "count": .int(s.groupingKeys.count)],
            ]
        }
        for key in omit { o[key] = nil }
        return o.node
    }

    /// The native `session` object.
    static func sessionNode(_ session: SessionFacts) -> JSONNode {
        var o = JSONObject()
        o["created_at"] = session.createdAt.map { .string(RFC3339.format($0)) }
        o["issuer_arn"] = session.issuerArn.map(JSONNode.string)
        o["mfa_authenticated"] = session.mfaAuthenticated.map(JSONNode.bool)
        o["source_identity"] = session.sourceIdentity.map(JSONNode.string)
        return o.node
    }

    /// `extras` for a format with session fields of its own: `session` keeps only what they lack, the source identity.
    static func extrasBesideSession(_ alert: Alert, omit: Set<String>) -> JSONNode {
        guard case .object(var o) = extras(alert, omit: omit) else { return .object([:]) }
        o["session"] = alert.session.sourceIdentity.map { ["source_identity": .string($0)] }
        return .object(o)
    }
}
