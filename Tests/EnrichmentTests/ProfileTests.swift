import CloudTrail
import Detection
import Enrichment
import Foundation
import Testing

/// The `elastic-2026` profile on generated databases: Elastic's activity types and fidelity, its
/// exclusions, and how it differs from `seed` on the same events.
@Suite("Profile elastic-2026", .enabled(if: GeoIPFixtures.isEnabled))
struct ProfileTests {
    static let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

    func rule(_ edit: (inout RuleConfiguration) -> Void = { _ in }) throws -> DetectionRule {
        let db = try GeoIPFixtures.require()
        var c = RuleConfiguration.elastic2026
        edit(&c)
        return DetectionRule(c, enricher: try GeoIPEnricher(.init(cityDatabase: db.city, asnDatabase: db.asn), logger: quiet))
    }

    /// Two addresses of one key, each calling two services, with the given user agents.
    func pair(_ a: String, _ b: String, agents: (String, String) = ("aws-cli/2.15.0", "aws-cli/2.15.0")) -> [CloudTrailEvent] {
        [
            iamEvent(minute: 1, address: a, userAgent: agents.0, eventSource: "s3.amazonaws.com"),
            iamEvent(minute: 2, address: a, userAgent: agents.0, eventSource: "iam.amazonaws.com", eventName: "ListUsers"),
            iamEvent(minute: 9, address: b, userAgent: agents.1, eventSource: "sts.amazonaws.com", eventName: "GetCallerIdentity"),
            iamEvent(minute: 10, address: b, userAgent: agents.1, eventSource: "secretsmanager.amazonaws.com", eventName: "GetSecretValue"),
        ]
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var a: String
        var b: String
        var twoAgents: Bool
        var expected: ActivityType
        init(_ a: String, _ b: String, _ twoAgents: Bool, _ expected: ActivityType) {
            (self.a, self.b, self.twoAgents, self.expected) = (a, b, twoAgents, expected)
        }
        var testDescription: String { "\(a) + \(b)\(twoAgents ? ", two agents" : "") -> \(expected.rawValue)" }
    }

    static let cases: [Case] = [
        // Frankfurt VPS and Seattle home ISP: two networks, two cities; user agents differ or not.
        Case("203.0.113.10", "198.51.100.20", true, .multipleIPNetworkCityUserAgent),
        Case("203.0.113.10", "198.51.100.20", false, .multipleIPNetworkCity),
        // Seattle and Portland on the same ISP: two cities, one network.
        Case("203.0.113.10", "203.0.114.10", false, .multipleIPAndCity),
        // Seattle home ISP and Seattle CGNAT: one city, two networks.
        Case("203.0.113.10", "100.64.1.1", false, .multipleIPAndNetwork),
        // Two addresses of one ISP in one city, a second user agent.
        Case("203.0.113.10", "203.0.113.11", true, .multipleIPAndUserAgent),
        // IPv6: Dublin and Frankfurt.
        Case("2001:db8:1::5", "198.51.100.20", true, .multipleIPNetworkCityUserAgent),
        // Dual stack in one place: nothing but two addresses.
        Case("203.0.113.10", "203.0.113.11", false, .normal),
    ]

    @Test(arguments: cases)
    func eachActivityTypeAndItsFidelity(_ c: Case) throws {
        let (a, b, twoAgents, expected) = (c.a, c.b, c.twoAgents, c.expected)
        // Broadened as the rule file's comment says: any non-normal activity alerts.
        let r = try rule { $0.minimumFidelity = .low }
        let (alerts, rejected) = detect(pair(a, b, agents: twoAgents ? ("aws-cli/2.15.0", Self.firefox) : ("aws-cli/2.15.0", "aws-cli/2.15.0")), rule: r)
        #expect(rejected.isEmpty)
        guard expected != .normal else {
            #expect(alerts.isEmpty, "normal activity alerted: \(alerts.map(\.jsonString))")
            return
        }
        let final = try #require(alerts.last)
        #expect(final.status == .final)
        #expect(final.activityType == expected)
        let json = try object(final)
        #expect(json["activity_type"] as? String == expected.rawValue)
        #expect(json["fidelity"] as? String == expected.fidelity?.rawValue)
    }

    @Test func fidelityLevelsAreElasticsMapping() {
        #expect(ActivityType.multipleIPNetworkCityUserAgent.fidelity == .high)
        #expect(ActivityType.multipleIPNetworkCity.fidelity == .high)
        #expect(ActivityType.multipleIPAndCity.fidelity == .medium)
        #expect(ActivityType.multipleIPAndNetwork.fidelity == .medium)
        #expect(ActivityType.multipleIPAndUserAgent.fidelity == .low)
        #expect(ActivityType.normal.fidelity == nil)
    }

    @Test func byDefaultOnlyHighFidelityAlerts() throws {
        let r = try rule()
        #expect(detect(pair("203.0.113.10", "198.51.100.20"), rule: r).alerts.last?.activityType == .multipleIPNetworkCity)
        #expect(detect(pair("203.0.113.10", "203.0.114.10"), rule: r).alerts.isEmpty)  // medium
        #expect(detect(pair("203.0.113.10", "203.0.113.11", agents: ("a", "b")), rule: r).alerts.isEmpty)  // low
    }

    @Test func minimumFidelityMediumTakesMediumButNotLow() throws {
        let r = try rule { $0.minimumFidelity = .medium }
        #expect(detect(pair("203.0.113.10", "100.64.1.1"), rule: r).alerts.last?.activityType == .multipleIPAndNetwork)
        #expect(detect(pair("203.0.113.10", "203.0.113.11", agents: ("a", "b")), rule: r).alerts.isEmpty)
    }

    @Test func oneEventSourceIsNotEnough() throws {
        let r = try rule()
        let events = pair("203.0.113.10", "198.51.100.20").map { e -> CloudTrailEvent in
            var e = e
            e.eventSource = "s3.amazonaws.com"
            return e
        }
        #expect(detect(events, rule: r).alerts.isEmpty)
        #expect(detect(events, rule: try rule { $0.minimumEventSources = 1 }).alerts.count >= 1)
    }

    @Test func theAlertCarriesPerAddressEnrichmentAndAgentPairs() throws {
        let r = try rule()
        let alerts = detect(pair("2001:db8:1::5", "198.51.100.20", agents: ("aws-cli/2.15.0", Self.firefox)), rule: r).alerts
        let json = try object(try #require(alerts.last))
        let addresses = try #require(json["source_addresses"] as? [String: Any])
        let enrichment = try #require(addresses["enrichment"] as? [[String: Any]])
        #expect(enrichment.count == 2)
        let vps = try #require(enrichment.first { $0["address"] as? String == "198.51.100.20" })
        #expect(vps["asn"] as? Int == 64501)
        #expect(vps["as_organization"] as? String == "EXAMPLE-VPS")
        #expect(vps["city"] as? String == "Frankfurt am Main")
        #expect(vps["country_iso_code"] as? String == "DE")
        #expect(enrichment.contains { $0["address"] as? String == "2001:db8:1::5" && $0["city"] as? String == "Dublin" })
        #expect(Set(json["networks"] as? [String] ?? []) == ["EXAMPLE-VPS", "EXAMPLE-V6-ISP"])
        #expect(Set(json["cities"] as? [String] ?? []) == ["Dublin", "Frankfurt am Main"])
        let pairs = try #require(json["address_user_agents"] as? [[String: String]])
        #expect(Set(pairs.map { "\($0["address"]!) \($0["user_agent"]!)" })
            == ["198.51.100.20 \(Self.firefox)", "2001:db8:1::5 aws-cli/2.15.0"])
        #expect(json["grouping_key"] as? String == "AKIAEXAMPLEKEY000001")
    }

    // MARK: exclusions

    /// A high-fidelity attack whose second address's events are changed by `edit`: alerting must stop
    /// because those events are excluded (the first address alone is one address).
    func excluded(by reason: RejectReason, address: String = "198.51.100.20", rule r: DetectionRule? = nil,
                  _ edit: (inout CloudTrailEvent) -> Void = { _ in }) throws {
        let r = try r ?? rule()
        var events = pair("203.0.113.10", address)
        let untouched = detect(events, rule: r)
        for i in 2..<4 { edit(&events[i]) }
        let (alerts, rejected) = detect(events, rule: r)
        #expect(rejected == [reason, reason])
        #expect(alerts.isEmpty)
        if address == "198.51.100.20" { #expect(!untouched.alerts.isEmpty) }
    }

    @Test func consoleSessionsAreExcluded() throws {
        try excluded(by: .consoleSession) { $0.sessionCredentialFromConsole = true }
    }

    @Test(arguments: ["Terraform/1.9.0", "APN/1.0 HashiCorp/1.0 terraform-provider-aws/5.0", "Ansible/2.16", "pulumi/3.100"])
    func infrastructureAsCodeAgentsAreExcluded(agent: String) throws {
        try excluded(by: .excludedUserAgent) { $0.userAgent = agent }
    }

    @Test func amazonAESIsExcluded() throws {
        try excluded(by: .excludedNetwork, address: "54.240.7.9")
    }

    @Test func amazon02IsExcludedForDataEventsOnly() throws {
        let r = try rule { $0.minimumFidelity = .low }
        try excluded(by: .excludedNetwork, address: "52.94.3.3", rule: r) { $0.eventCategory = "Data" }
        // Management calls from AMAZON-02 (a workload on EC2) still count.
        let management = detect(pair("203.0.113.10", "52.94.3.3"), rule: r)
        #expect(management.rejected.isEmpty)
        #expect(management.alerts.last?.activityType == .multipleIPNetworkCity)
    }

    static let noisySources = ["health", "monitoring", "notifications", "ce", "cost-optimization-hub",
                               "servicecatalog-appregistry", "securityhub", "account", "budgets", "freetier",
                               "support", "support-console"]

    @Test(arguments: noisySources)
    func noisyEventSourcesAreExcluded(name: String) throws {
        try excluded(by: .excludedEventSource) { $0.eventSource = "\(name).amazonaws.com" }
    }

    @Test func onlyIAMUsersCount() throws {
        try excluded(by: .identityType) { $0.userIdentity.type = "AssumedRole" }
    }

    @Test func temporaryAndLongTermKeysBothCount() throws {
        let r = try rule()
        let temporary = pair("203.0.113.10", "198.51.100.20").map { e -> CloudTrailEvent in
            var e = e
            e.userIdentity.accessKeyId = "ASIAEXAMPLEKEY000009"
            return e
        }
        #expect(detect(temporary, rule: r).alerts.last?.groupingKey == "ASIAEXAMPLEKEY000009")
        #expect(detect(pair("203.0.113.10", "198.51.100.20"), rule: r).alerts.last?.groupingKey == "AKIAEXAMPLEKEY000001")
    }

    // MARK: seed and elastic-2026 on one stream

    @Test func seedAndElasticDisagreeWhereTheyShould() throws {
        let db = try GeoIPFixtures.require()
        let enricher = try GeoIPEnricher(.init(cityDatabase: db.city, asnDatabase: db.asn), logger: quiet)
        // 1. A role session (ASIA) from two addresses of one ISP in one city: seed alerts, elastic
        //    ignores roles and would call it normal anyway.
        let role = [("203.0.113.10", 1), ("203.0.113.11", 5)].map { address, m in
            iamEvent(minute: Int64(m), address: address, type: "AssumedRole",
                     arn: "arn:aws:sts::123456789012:assumed-role/deploy/ci", accessKeyId: "ASIAROLESESSION00001")
        }
        // 2. An IAM user's long-term key from Seattle and Frankfurt, two services: elastic alerts
        //    (high), seed does not look at AKIA keys.
        let stolenKey = pair("203.0.113.10", "198.51.100.20")
        // 3. An IAM user's temporary key used by an AMAZON-AES domain and from home: seed alerts,
        //    elastic excludes the AMAZON-AES address and sees one address.
        let aes = pair("203.0.113.10", "54.240.7.9").map { e -> CloudTrailEvent in
            var e = e
            e.userIdentity.accessKeyId = "ASIAUSERSESSION00002"
            e.userIdentity.arn = "arn:aws:iam::123456789012:user/bob"
            return e
        }
        let stream = (role + stolenKey + aes).sorted { $0.eventTime < $1.eventTime }
        let seed = detect(stream, rule: DetectionRule(.seed, enricher: enricher)).alerts.filter { $0.status == .final }
        let elastic = detect(stream, rule: DetectionRule(.elastic2026, enricher: enricher)).alerts.filter { $0.status == .final }
        #expect(Set(seed.map(\.groupingKey)) == ["arn:aws:sts::123456789012:assumed-role/deploy/ci", "arn:aws:iam::123456789012:user/bob"])
        #expect(elastic.map(\.groupingKey) == ["AKIAEXAMPLEKEY000001"])
        // Seed alerts carry the enrichment (databases are configured) but no activity type or fidelity.
        let seedJSON = try object(try #require(seed.first))
        #expect(seedJSON["activity_type"] == nil && seedJSON["fidelity"] == nil)
        #expect((seedJSON["networks"] as? [String]) != nil)
        #expect(try object(try #require(elastic.first))["fidelity"] as? String == "high")
    }

    @Test func withoutDatabasesElasticCanOnlySeeUserAgents() throws {
        // No enricher: no network, no city, and the AMAZON-AES exclusion cannot apply.
        var c = RuleConfiguration.elastic2026
        c.minimumFidelity = .low
        let r = DetectionRule(c)
        let alerts = detect(pair("203.0.113.10", "198.51.100.20", agents: ("aws-cli/2.15.0", Self.firefox)), rule: r).alerts
        let final = try #require(alerts.last)
        #expect(final.activityType == .multipleIPAndUserAgent)
        #expect(final.network?.addresses.isEmpty == true)
        #expect(detect(pair("54.240.7.9", "198.51.100.20", agents: ("a", "b")), rule: r).rejected.isEmpty)
    }
}
