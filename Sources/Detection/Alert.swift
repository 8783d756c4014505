public import CloudTrail
import Crypto

/// One emission of an alert: the record value is `json()`, the record key `recordKey`.
///
/// Every emission of the same `id` carries the full current evidence; `revision` orders them.
/// The JSON field names are the downstream contract (docs/alerts.md, schema/alert.schema.json).
public struct Alert: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable {
        /// The window reached the threshold and is still open; more revisions may follow.
        case open
        /// The window closed (watermark passed its end); the last word on this `id`.
        case final
    }

    /// Bumped when a field changes meaning or disappears (adding fields does not bump it).
    public static let schemaVersion = 1

    public var id: String
    public var status: Status
    public var revision: Int
    public var groupingKey: String
    public var principal: AlertPrincipal
    public var window: TimeWindow
    public var sourceAddresses: EvidenceList
    /// False only once a window saw more than `EvidenceLimits.distinctTrackingLimit` values.
    public var sourceAddressCountIsExact: Bool
    public var accessKeyIds: EvidenceList
    public var userAgents: EvidenceList
    public var eventSources: EvidenceList
    public var eventNames: EvidenceList
    public var awsRegions: EvidenceList
    public var eventCount: Int
    public var firstSeen: EventTime
    public var lastSeen: EventTime
    public var rule: AlertRule
    /// Wall-clock time of the emission (the injected clock); the only fact a replay may change (the
    /// response repeats it as its time).
    public var detectedAt: EventTime
    public var evidence: AlertEvidence
    /// Enrichment evidence; nil when the window saw no enrichment and the rule does not score fidelity.
    public var network: AlertNetworks? = nil
    /// Elastic's activity type; nil unless the rule scores fidelity (`minimumFidelity`).
    public var activityType: ActivityType? = nil
    /// Set on the revisions of an incident (`rule.suppression`): the windows it merges.
    public var suppression: AlertSuppression? = nil
    /// The session context of the window's events (`SessionEvidence` says how several are combined).
    public var session = SessionFacts()

    /// What a responder runs to revoke the credentials: derived from the principal, the session's
    /// issuer and `detectedAt` (so it differs between repeats exactly as `detectedAt` does).
    public var response: AlertResponse { AlertResponse(self) }

    /// The output record key: the grouping key, UTF-8.
    /// The grouping key, cut as every value of the alert is (`ValueCut`).
    public var recordKey: [UInt8] { Array(ValueCut.cut(groupingKey).utf8) }

    /// hex SHA-256 of `rule id | grouping key | window start (RFC 3339)`: the same window has the same
    /// id on any instance, after any restart.
    public static func id(ruleID: String, groupingKey: String, windowStart: EventTime) -> String {
        let digest = SHA256.hash(data: Array("\(ruleID)|\(groupingKey)|\(RFC3339.format(windowStart))".utf8))
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A bounded evidence list: the kept `values` (sorted) and the true number of distinct values.
public struct EvidenceList: Sendable, Hashable {
    public var values: [String]
    public var count: Int

    public init(values: [String], count: Int) {
        self.values = values
        self.count = count
    }
}

public struct AlertPrincipal: Sendable, Hashable {
    public var arn: String
    public var type: String
    public var accountId: String?
}

/// The rule's identity as shown in alerts, with its MITRE ATT&CK mapping.
public struct AlertRule: Sendable, Hashable {
    public var id: String
    public var name: String
    public var severity: String
    public var riskScore: Int

    public static let techniqueID = "T1078.004"
    public static let techniqueName = "Valid Accounts: Cloud Accounts"
    public static let tactics = [("TA0001", "Initial Access"), ("TA0005", "Defense Evasion")]

    init(_ configuration: RuleConfiguration) {
        id = configuration.id
        name = configuration.name
        severity = configuration.severity
        riskScore = configuration.riskScore
    }
}

/// What GeoIP enrichment adds to an alert.
public struct AlertNetworks: Sendable, Hashable {
    /// Per listed address that a database knew, in the order of `source_addresses.values`.
    public var addresses: [AddressDetail]
    /// Distinct AS organisations.
    public var networks: EvidenceList
    public var cities: EvidenceList
    /// `address - user agent` pairs.
    public var addressUserAgents: EvidenceList
}

/// One address and what the databases said about it.
public struct AddressDetail: Sendable, Hashable {
    public var address: String
    public var enrichment: AddressEnrichment
}

/// Pointers back to raw logs.
public struct AlertEvidence: Sendable, Hashable {
    /// A deterministic sample (the smallest ids) of the window's event ids.
    public var sampleEventIDs: [String]
    /// Input topic partitions and the offset range each contributed, bounded.
    public var inputRanges: [OriginRange]
    /// True number of input (topic, partition) pairs.
    public var inputRangeCount: Int
    /// The detect stage's partition that holds the window's state.
    public var detectPartition: Int32
}

extension Alert {
    /// The record value: compact JSON, keys sorted at every level, so equal alerts are equal bytes.
    public func json() -> [UInt8] {
        var w = JSONWriter()
        w.object { w in
            w.field("access_key_ids", strings: accessKeyIds.values)
            if let activityType {
                w.field("activity_type", activityType.rawValue)
            }
            if let network {
                w.key("address_user_agents")
                w.array { w in
                    for pair in network.addressUserAgents.values {
                        let parts = pair.split(separator: " - ", maxSplits: 1, omittingEmptySubsequences: false)
                        w.object { w in
                            w.field("address", String(parts[0]))
                            w.field("user_agent", parts.count > 1 ? String(parts[1]) : "")
                        }
                    }
                }
            }
            w.field("alert_id", id)
            w.field("aws_regions", strings: awsRegions.values)
            if let network { w.field("cities", strings: network.cities.values) }
            w.field("detected_at", RFC3339.format(detectedAt))
            w.key("distinct_counts")
            w.object { w in
                w.field("access_key_ids", accessKeyIds.count)
                if let network { w.field("address_user_agents", network.addressUserAgents.count) }
                w.field("aws_regions", awsRegions.count)
                if let network { w.field("cities", network.cities.count) }
                w.field("event_names", eventNames.count)
                w.field("event_sources", eventSources.count)
                if let network { w.field("networks", network.networks.count) }
                w.field("user_agents", userAgents.count)
            }
            w.field("event_count", eventCount)
            w.field("event_names", strings: eventNames.values)
            w.field("event_sources", strings: eventSources.values)
            w.key("evidence")
            w.object { w in
                w.field("detect_partition", Int(evidence.detectPartition))
                w.field("event_ids", strings: evidence.sampleEventIDs)
                w.key("input")
                w.array { w in
                    for range in evidence.inputRanges {
                        w.object { w in
                            w.field("first_offset", Int(range.firstOffset))
                            w.field("last_offset", Int(range.lastOffset))
                            w.field("partition", Int(range.partition))
                            w.field("topic", range.topic)
                        }
                    }
                }
                w.field("input_count", evidence.inputRangeCount)
            }
            if let fidelity = activityType?.fidelity {
                w.field("fidelity", fidelity.rawValue)
            }
            w.field("first_seen", RFC3339.format(firstSeen))
            w.field("grouping_key", groupingKey)
            w.field("last_seen", RFC3339.format(lastSeen))
            if let network { w.field("networks", strings: network.networks.values) }
            w.key("principal")
            w.object { w in
                w.field("account_id", principal.accountId)
                w.field("arn", principal.arn)
                w.field("type", principal.type)
            }
            w.key("response")
            response.write(to: &w)
            w.field("revision", revision)
            w.key("rule")
            w.object { w in
                w.field("id", rule.id)
                w.field("name", rule.name)
                w.field("risk_score", rule.riskScore)
                w.field("severity", rule.severity)
                w.key("threat")
                w.object { w in
                    w.field("framework", "MITRE ATT&CK")
                    w.key("tactics")
                    w.array { w in
                        for (id, name) in AlertRule.tactics {
                            w.object { w in
                                w.field("id", id)
                                w.field("name", name)
                            }
                        }
                    }
                    w.key("technique")
                    w.object { w in
                        w.field("id", AlertRule.techniqueID)
                        w.field("name", AlertRule.techniqueName)
                    }
                }
            }
            w.field("schema_version", Alert.schemaVersion)
            w.key("session")
            w.object { w in
                if let t = session.createdAt { w.field("created_at", RFC3339.format(t)) }
                if let arn = session.issuerArn { w.field("issuer_arn", arn) }
                if let mfa = session.mfaAuthenticated { w.field("mfa_authenticated", mfa) }
                if let identity = session.sourceIdentity { w.field("source_identity", identity) }
            }
            w.key("source_addresses")
            w.object { w in
                w.field("count", sourceAddresses.count)
                w.field("count_exact", sourceAddressCountIsExact)
                if let network {
                    w.key("enrichment")
                    w.array { w in
                        for detail in network.addresses {
                            let e = detail.enrichment
                            w.object { w in
                                w.field("address", detail.address)
                                if let org = e.asOrganization { w.field("as_organization", org) }
                                if let asn = e.asn { w.field("asn", Int(asn)) }
                                if let city = e.city { w.field("city", city) }
                                if let country = e.countryCode { w.field("country_iso_code", country) }
                            }
                        }
                    }
                }
                w.field("values", strings: sourceAddresses.values)
            }
            w.field("status", status.rawValue)
            if let suppression {
                w.key("suppression")
                w.object { w in
                    w.field("by", suppression.by)
                    w.key("grouping_keys")
                    w.object { w in
                        w.field("count", suppression.groupingKeys.count)
                        w.field("values", strings: suppression.groupingKeys.values)
                    }
                    w.field("key", suppression.key)
                    w.field("window_count", suppression.windowCount)
                }
            }
            w.field("user_agents", strings: userAgents.values)
            w.key("window")
            w.object { w in
                w.field("end", RFC3339.format(window.end))
                w.field("start", RFC3339.format(window.start))
            }
        }
        return w.bytes
    }

    public var jsonString: String { String(decoding: json(), as: UTF8.self) }
}
