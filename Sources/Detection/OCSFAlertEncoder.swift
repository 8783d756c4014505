import CloudTrail

/// An alert as an OCSF Detection Finding (class 2004, category Findings), with the `cloud` and
/// `host` profiles (for `cloud` and `actor`). One record per emission: `open` revision 1 creates the
/// finding, later `open` revisions update it, `final` closes it; `finding_info.uid` is the alert id
/// throughout. What OCSF has no attribute for is under `unmapped.tokentrail`, by its native name.
public enum OCSFAlertEncoder {
    /// The OCSF schema version written in `metadata.version` and validated against in the tests.
    public static let ocsfVersion = "1.8.0"
    public static let classUID = 2004
    public static let categoryUID = 2
    public static let profiles = ["cloud", "host"]

    /// OCSF `activity_id`: Create (1), Update (2), Close (3).
    public static func activityID(_ alert: Alert) -> Int {
        switch alert.status {
        case .final: 3
        case .open: alert.revision == 1 ? 1 : 2
        }
    }

    static let activityNames = [1: "Create", 2: "Update", 3: "Close"]

    /// OCSF `severity_id` of the rule's severity: Low 2, Medium 3, High 4, Critical 5.
    static func severity(_ name: String) -> (id: Int, caption: String) {
        switch name {
        case "low": (2, "Low")
        case "medium": (3, "Medium")
        case "high": (4, "High")
        case "critical": (5, "Critical")
        default: (99, name)
        }
    }

    /// Native facts with an OCSF attribute of their own, left out of `unmapped.tokentrail`.
    static let mapped: Set<String> = ["alert_id", "detected_at", "first_seen", "last_seen", "principal", "event_count"]

    public static func encode(_ alert: Alert) -> [UInt8] { record(alert).bytes }

    static func record(_ alert: Alert) -> JSONNode {
        let activity = activityID(alert)
        let severity = severity(alert.rule.severity)
        var r = JSONObject()
        r["class_uid"] = .int(classUID)
        r["class_name"] = "Detection Finding"
        r["category_uid"] = .int(categoryUID)
        r["category_name"] = "Findings"
        r["activity_id"] = .int(activity)
        r["activity_name"] = .string(activityNames[activity]!)
        r["type_uid"] = .int(classUID * 100 + activity)
        r["type_name"] = .string("Detection Finding: \(activityNames[activity]!)")
        r["severity_id"] = .int(severity.id)
        r["severity"] = .string(severity.caption)
        r["risk_score"] = .int(alert.rule.riskScore)
        // Triage state: tokentrail does not triage, every finding is new to the SOC.
        r["status_id"] = 1
        r["status"] = "New"
        r["is_alert"] = true
        r["time"] = .int(Int(alert.detectedAt.millisecondsSinceEpoch))
        r["start_time"] = .int(Int(alert.firstSeen.millisecondsSinceEpoch))
        r["end_time"] = .int(Int(alert.lastSeen.millisecondsSinceEpoch))
        r["count"] = .int(alert.eventCount)
        r["message"] = .string(AlertFacts.summary(alert))
        r["metadata"] = [
            "version": .string(ocsfVersion),
            "profiles": .strings(profiles),
            "uid": .string("\(alert.id):\(alert.revision)"),
            "product": [
                "name": .string(Product.name), "vendor_name": .string(Product.vendorName),
                "version": .string(Product.version),
            ],
        ]
        r["finding_info"] = findingInfo(alert)
        var cloud: [String: JSONNode] = ["provider": "AWS"]
        if let account = alert.principal.accountId { cloud["account"] = ["uid": .string(account), "type_id": 10, "type": "AWS Account"] }
        if alert.awsRegions.count == 1, let region = alert.awsRegions.values.first { cloud["region"] = .string(region) }
        r["cloud"] = .object(cloud)
        r["actor"] = actor(alert)
        r["evidences"] = .array(evidences(alert))
        r["remediation"] = [
            "desc": .string(alert.response.summary), "references": [.string(AlertResponse.reference)],
        ]
        r["unmapped"] = ["tokentrail": AlertFacts.extrasBesideSession(alert, omit: mapped)]
        return r.node
    }

    static func findingInfo(_ alert: Alert) -> JSONNode {
        let attacks: [JSONNode] = AlertRule.tactics.map { tactic in
            [
                "tactic": ["uid": .string(tactic.0), "name": .string(tactic.1), "src_url": .string(AlertFacts.tacticURL(tactic.0))],
                "technique": [
                    "uid": .string(AlertFacts.parentTechnique.id), "name": .string(AlertFacts.parentTechnique.name),
                    "src_url": .string(AlertFacts.techniqueURL),
                ],
                "sub_technique": [
                    "uid": .string(AlertRule.techniqueID), "name": .string(AlertFacts.subtechniqueName),
                    "src_url": .string(AlertFacts.subtechniqueURL),
                ],
            ]
        }
        return [
            "uid": .string(alert.id),
            "title": .string(alert.rule.name),
            "desc": .string(AlertFacts.ruleDescription),
            "types": ["AWS Session Token Used from Multiple Addresses"],
            "first_seen_time": .int(Int(alert.firstSeen.millisecondsSinceEpoch)),
            "last_seen_time": .int(Int(alert.lastSeen.millisecondsSinceEpoch)),
            "data_sources": ["AWS CloudTrail"],
            "analytic": ["uid": .string(alert.rule.id), "name": .string(alert.rule.name), "type_id": 1, "type": "Rule"],
            "attacks": .array(attacks),
        ]
    }

    /// The principal (`actor.user`) and its session: the access key when the window saw one, the
    /// issuer, creation time and MFA of the session context.
    static func actor(_ alert: Alert) -> JSONNode {
        var user = JSONObject()
        user["uid"] = .string(alert.principal.arn)
        user["name"] = AlertFacts.principalName(alert.principal.arn).map(JSONNode.string)
        user["type_id"] = 99
        user["type"] = .string(alert.principal.type)
        if let account = alert.principal.accountId { user["account"] = ["uid": .string(account), "type_id": 10, "type": "AWS Account"] }
        var actor = JSONObject()
        var session = JSONObject()
        if alert.accessKeyIds.count == 1, let key = alert.accessKeyIds.values.first {
            user["credential_uid"] = .string(key)
            session["uid"] = .string(key)
            session["credential_uid"] = .string(key)
        }
        session["issuer"] = alert.session.issuerArn.map(JSONNode.string)
        session["created_time"] = alert.session.createdAt.map { .int(Int($0.millisecondsSinceEpoch)) }
        session["is_mfa"] = alert.session.mfaAuthenticated.map(JSONNode.bool)
        if !session.members.isEmpty { actor["session"] = session.node }
        actor["user"] = user.node
        return actor.node
    }

    /// One per listed address: the endpoint, what GeoIP said about it and the user agents seen with it.
    static func evidences(_ alert: Alert) -> [JSONNode] {
        let enrichment = AlertFacts.enrichmentByAddress(alert)
        let agents = AlertFacts.userAgentsByAddress(alert)
        return alert.sourceAddresses.values.map { address in
            var endpoint = JSONObject()
            endpoint["ip"] = .string(AlertFacts.ip(address))
            if let e = enrichment[address] {
                if e.city != nil || e.countryCode != nil {
                    var location = JSONObject()
                    location["city"] = e.city.map(JSONNode.string)
                    location["country"] = e.countryCode.map(JSONNode.string)
                    endpoint["location"] = location.node
                }
                if e.asn != nil || e.asOrganization != nil {
                    var system = JSONObject()
                    system["number"] = e.asn.map { .int(Int($0)) }
                    system["name"] = e.asOrganization.map(JSONNode.string)
                    endpoint["autonomous_system"] = system.node
                }
            }
            var evidence = JSONObject()
            evidence["src_endpoint"] = endpoint.node
            if let seen = agents[address] { evidence["data"] = ["user_agents": .strings(seen)] }
            return evidence.node
        }
    }
}
