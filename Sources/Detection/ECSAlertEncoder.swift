import CloudTrail

/// An alert as an Elastic Common Schema document (`event.kind: alert`), with the principal under
/// the names Elastic's AWS CloudTrail integration gives it (`aws.cloudtrail.user_identity.*`,
/// `user.*`, `cloud.*`), so that it lands in an Elastic index beside the CloudTrail it came from and
/// the same queries find both. What ECS has no field for is under `tokentrail`, by its native name.
/// A field with several values (`source.ip`, `user_agent.original`...) is an array, as
/// Elasticsearch indexes any field.
public enum ECSAlertEncoder {
    /// The ECS version written in `ecs.version` and validated against in the tests.
    public static let ecsVersion = "9.4.0"

    /// `event.severity` of the rule's severity, on Elastic detection rules' scale.
    static func severity(_ name: String) -> Int {
        switch name {
        case "low": 21
        case "medium": 47
        case "high": 73
        case "critical": 99
        default: 0
        }
    }

    /// Native facts with an ECS field of their own, left out of `tokentrail`.
    static let mapped: Set<String> = [
        "alert_id", "detected_at", "first_seen", "last_seen", "principal", "access_key_ids", "user_agents",
    ]

    public static func encode(_ alert: Alert) -> [UInt8] { record(alert).bytes }

    /// One value, or an array of several.
    static func oneOrMany(_ values: [JSONNode]) -> JSONNode? {
        switch values.count {
        case 0: nil
        case 1: values[0]
        default: .array(values)
        }
    }

    static func record(_ alert: Alert) -> JSONNode {
        let arn = alert.principal.arn
        let name = AlertFacts.principalName(arn)
        let enrichment = alert.network?.addresses.map(\.enrichment) ?? []
        var r = JSONObject()
        r["@timestamp"] = .string(RFC3339.format(alert.detectedAt))
        r["message"] = .string(AlertFacts.summary(alert))
        r["ecs"] = ["version": .string(ecsVersion)]
        r["event"] = [
            "kind": "alert",
            "category": ["authentication"],
            "type": ["info"],
            "module": .string(Product.name),
            "dataset": "tokentrail.alert",
            "id": .string(alert.id),
            "sequence": .int(alert.revision),
            "start": .string(RFC3339.format(alert.firstSeen)),
            "end": .string(RFC3339.format(alert.lastSeen)),
            "severity": .int(severity(alert.rule.severity)),
            "risk_score": .int(alert.rule.riskScore),
        ]
        r["observer"] = ["product": .string(Product.name), "vendor": .string(Product.vendorName), "version": .string(Product.version)]
        r["rule"] = [
            "id": .string(alert.rule.id),
            "name": .string(alert.rule.name),
            "description": .string(AlertFacts.ruleDescription),
            "category": "Initial Access",
            "ruleset": .string(Product.name),
            "author": [.string(Product.vendorName)],
            "reference": .string(AlertFacts.subtechniqueURL),
            "version": .string(Product.version),
        ]
        r["threat"] = [
            "framework": "MITRE ATT&CK",
            "tactic": [
                "id": .strings(AlertRule.tactics.map(\.0)),
                "name": .strings(AlertRule.tactics.map(\.1)),
                "reference": .strings(AlertRule.tactics.map { AlertFacts.tacticURL($0.0) }),
            ],
            "technique": [
                "id": [.string(AlertFacts.parentTechnique.id)],
                "name": [.string(AlertFacts.parentTechnique.name)],
                "reference": [.string(AlertFacts.techniqueURL)],
                "subtechnique": [
                    "id": [.string(AlertRule.techniqueID)],
                    "name": [.string(AlertFacts.subtechniqueName)],
                    "reference": [.string(AlertFacts.subtechniqueURL)],
                ],
            ],
        ]
        var source = JSONObject()
        let addresses = alert.sourceAddresses.values.map(AlertFacts.ip)
        source["ip"] = .strings(addresses)
        let asns = Set(enrichment.compactMap(\.asn)).sorted().map { JSONNode.int(Int($0)) }
        let organizations = alert.network?.networks.values ?? []
        if !asns.isEmpty || !organizations.isEmpty {
            var system = JSONObject()
            system["number"] = oneOrMany(asns)
            if !organizations.isEmpty { system["organization"] = ["name": oneOrMany(organizations.map(JSONNode.string))!] }
            source["as"] = system.node
        }
        let cities = alert.network?.cities.values ?? []
        let countries = Set(enrichment.compactMap(\.countryCode)).sorted()
        if !cities.isEmpty || !countries.isEmpty {
            var geo = JSONObject()
            geo["city_name"] = oneOrMany(cities.map(JSONNode.string))
            geo["country_iso_code"] = oneOrMany(countries.map(JSONNode.string))
            source["geo"] = geo.node
        }
        r["source"] = source.node
        var related: [String: JSONNode] = ["ip": .strings(addresses)]
        related["user"] = .strings([arn] + (name.map { [$0] } ?? []))
        r["related"] = .object(related)
        var user = JSONObject()
        user["id"] = .string(arn)
        user["name"] = name.map(JSONNode.string)
        user["entity"] = ["id": .string(arn)]
        r["user"] = user.node
        if let agents = oneOrMany(alert.userAgents.values.map(JSONNode.string)) { r["user_agent"] = ["original": agents] }
        var cloud = JSONObject()
        cloud["provider"] = "aws"
        cloud["account"] = alert.principal.accountId.map { ["id": .string($0)] }
        cloud["region"] = oneOrMany(alert.awsRegions.values.map(JSONNode.string))
        r["cloud"] = cloud.node
        var identity = JSONObject()
        identity["arn"] = .string(arn)
        identity["type"] = .string(alert.principal.type)
        identity["access_key_id"] = oneOrMany(alert.accessKeyIds.values.map(JSONNode.string))
        // As Elastic's integration writes them: `mfa_authenticated` the string CloudTrail has.
        var context = JSONObject()
        context["creation_date"] = alert.session.createdAt.map { .string(RFC3339.format($0)) }
        context["mfa_authenticated"] = alert.session.mfaAuthenticated.map { .string($0 ? "true" : "false") }
        context["session_issuer"] = alert.session.issuerArn.map { ["arn": .string($0)] }
        if !context.members.isEmpty { identity["session_context"] = context.node }
        r["aws"] = ["cloudtrail": ["user_identity": identity.node]]
        r["tokentrail"] = AlertFacts.extrasBesideSession(alert, omit: mapped)
        return r.node
    }
}
