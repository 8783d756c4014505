import Detection
import Foundation
import KafkaTestSupport
import Testing
import TokentrailCore

/// `rule.profile`, the fidelity keys and the `enrichment` section through the shared configuration.
@Suite("Profile and enrichment configuration")
struct ProfileConfigurationTests {
    func resolve(_ yaml: String, flags: [(String, String)] = []) throws(ConfigurationError) -> ResolvedConfiguration {
        var flagLayer = ConfigLayer()
        for (path, value) in flags { flagLayer.set(path, .scalar(value), source: .flag(name: "--\(path)")) }
        return try ConfigurationLoader.resolveWithSources([ConfigurationLoader.yamlLayer(yaml, path: "test.yaml"), flagLayer])
    }

    func problems(_ yaml: String, flags: [(String, String)] = []) -> [ConfigProblem] {
        do throws(ConfigurationError) {
            _ = try resolve(yaml, flags: flags)
            return []
        } catch {
            return error.problems
        }
    }

    @Test func theDefaultIsSeed() throws {
        let s = try resolve("").settings
        #expect(s.ruleProfile == "seed" && s.detector.rule == .seed)
        #expect(s.detector.rule.minimumFidelity == nil && s.enrichment.cityDatabase == nil)
    }

    @Test func theProfileSetsEveryRuleDefault() throws {
        let s = try resolve("rule: {profile: elastic-2026, min_fidelity: low}").settings
        var expected = RuleConfiguration.elastic2026
        expected.minimumFidelity = .low
        #expect(s.detector.rule == expected)
        #expect(s.detector.rule.groupingKey == .accessKeyId && s.detector.rule.identityTypes == ["IAMUser"])
    }

    @Test func individualKeysOverrideTheProfileWhicheverLayerNamesIt() throws {
        // The file tunes the rule, a flag picks the profile: the file's keys still win over the profile's defaults.
        let s = try resolve("""
            rule: {min_fidelity: medium, min_event_sources: 3}
            enrichment: {city_database: /data/city.mmdb, asn_database: /data/asn.mmdb}
            """, flags: [("rule.profile", "elastic-2026")]).settings
        #expect(s.ruleProfile == "elastic-2026")
        #expect(s.detector.rule.minimumFidelity == .medium && s.detector.rule.minimumEventSources == 3)
        #expect(s.detector.rule.excludedNetworkOrganizations == ["AMAZON-AES"])
    }

    @Test func anUnknownProfileNamesTheKeyAndTheAllowedValues() {
        let p = problems("rule: {profile: elastic-2027}")
        #expect(p.count == 1)
        #expect(p.first?.path == "rule.profile")
        #expect(p.first?.description.contains("seed, elastic-2026") == true, "\(p)")
        #expect(p.first?.description.contains("elastic-2027") == true)
    }

    @Test func elasticWithoutDatabasesIsAnErrorBecauseNothingCouldAlert() {
        let p = problems("rule: {profile: elastic-2026}")
        #expect(p.map(\.path) == ["enrichment.asn_database"])
        #expect(p.first?.problem.contains("no window can alert") == true)
        let cityOnly = problems("rule: {profile: elastic-2026}\nenrichment: {city_database: /c.mmdb}")
        #expect(cityOnly.map(\.path) == ["enrichment.asn_database"])
        let asnOnly = problems("rule: {profile: elastic-2026}\nenrichment: {asn_database: /a.mmdb}")
        #expect(asnOnly.map(\.path) == ["enrichment.city_database"])
    }

    @Test func aReachableFidelityWithoutADatabaseIsAWarning() throws {
        let r = try resolve("rule: {profile: elastic-2026, min_fidelity: low}")
        let paths = r.warnings.map(\.path)
        #expect(paths.filter { $0 == "enrichment.asn_database" }.count == 2)  // networks, and the AMAZON exclusions
        #expect(paths.contains("enrichment.city_database"))
        #expect(r.warnings.contains { $0.problem.contains("AMAZON-02, AMAZON-AES") })
        let medium = try resolve("rule: {profile: elastic-2026, min_fidelity: medium}\nenrichment: {city_database: /c.mmdb}")
        #expect(medium.warnings.map(\.path).contains("enrichment.asn_database"))
    }

    @Test func seedNeedsNoDatabase() throws {
        #expect(try resolve("rule: {profile: seed}").warnings.isEmpty)
    }

    @Test func badValuesAreRejected() {
        #expect(problems("rule: {min_fidelity: extreme}").map(\.path) == ["rule.min_fidelity"])
        #expect(problems("rule: {min_event_sources: 0}").map(\.path) == ["rule.min_event_sources"])
        #expect(problems("enrichment: {cache_size: -1}").map(\.path) == ["enrichment.cache_size"])
        #expect(problems("enrichment: {reload_interval: soon}").map(\.path) == ["enrichment.reload_interval"])
        #expect(problems("enrichment: {city_databse: /x.mmdb}").first?.problem.contains("did you mean enrichment.city_database") == true)
    }

    @Test func environmentVariablesReachTheNewKeys() throws {
        let s = try ConfigurationLoader.resolve([ConfigurationLoader.environmentLayer([
            "TOKENTRAIL_RULE__PROFILE": "elastic-2026",
            "TOKENTRAIL_ENRICHMENT__CITY_DATABASE": "/c.mmdb",
            "TOKENTRAIL_ENRICHMENT__ASN_DATABASE": "/a.mmdb",
            "TOKENTRAIL_ENRICHMENT__CACHE_SIZE": "1000",
        ])])
        #expect(s.ruleProfile == "elastic-2026" && s.enrichment.cacheSize == 1_000)
        #expect(s.enrichment.cityDatabase == "/c.mmdb" && s.enrichment.asnDatabase == "/a.mmdb")
    }

    @Test(.enabled(if: GeoIPFixtures.isEnabled))
    func settingsBuildTheRuleAndTheEnricherInOnePlace() throws {
        let db = try GeoIPFixtures.require()
        let s = try resolve("rule: {profile: elastic-2026}", flags: [("enrichment.city_database", db.city), ("enrichment.asn_database", db.asn)]).settings
        let setup = try s.makeDetection(logger: quiet)
        #expect(setup.rule.configuration == .elastic2026)
        #expect(setup.enricher?.hasASN == true && setup.enricher?.hasCity == true)
        #expect(setup.rule.enricher != nil)
        #expect(s.pipelineConfiguration(setup).enricher != nil)
        // Without databases there is no enricher at all (and nothing is opened).
        #expect(try TokentrailSettings().makeDetection(logger: quiet).enricher == nil)
    }
}

/// `tokentrail check-config` with the profile and generated databases: what an operator runs first.
@Suite("check-config with GeoIP databases", .ownThreads, .enabled(if: GeoIPFixtures.isEnabled))
struct CheckConfigWithDatabasesTests {
    static var binary: URL { TokentrailBinary.url }

    func run(_ arguments: [String]) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TOKENTRAIL_") }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test func elasticWithBothDatabasesIsValidAndShowsTheProfilesValues() throws {
        let db = try GeoIPFixtures.require()
        let (status, out, err) = try run(["check-config", "--skip-kafka-check", "--profile", "elastic-2026",
                                          "--geoip-city", db.city, "--geoip-asn", db.asn])
        #expect(status == 0, "\(err)")
        for line in ["profile: \"elastic-2026\"", "min_fidelity: \"high\"", "grouping_key: \"access_key_id\"",
                     "city_database: \"\(db.city)\"", "excluded_network_organizations: [\"AMAZON-AES\"]"] {
            #expect(out.contains(line), "\(line)\n\(out)")
        }
    }

    /// Issue 8's "done when": `tokentrail scan --profile elastic-2026 --geoip-city DB --geoip-asn DB` on
    /// files. An IAM user's long-term key used from two cities on two networks, on two services: a high
    /// fidelity alert carrying the enrichment; the seed profile (temporary keys only) says nothing.
    @Test func scanWithTheElasticProfileAndDatabases() throws {
        let db = try GeoIPFixtures.require()
        func line(_ minute: Int, _ address: String, _ source: String) -> String {
            #"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","accessKeyId":"AKIAEXAMPLEKEY000001","userName":"alice"},"eventTime":"2026-03-02T08:\#(minute < 10 ? "0" : "")\#(minute):00Z","eventSource":"\#(source)","eventName":"ListThings","awsRegion":"us-east-1","sourceIPAddress":"\#(address)","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1","eventID":"e-\#(minute)","eventType":"AwsApiCall","recipientAccountId":"123456789012","eventCategory":"Management"}"#
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tt-scan-elastic-\(UInt32.random(in: 0...UInt32.max)).json")
        try [line(1, "203.0.113.5", "s3.amazonaws.com"), line(5, "198.51.100.7", "ec2.amazonaws.com"),
             line(9, "203.0.113.5", "ec2.amazonaws.com")].joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)

        let (status, out, err) = try run(["scan", "--profile", "elastic-2026", "--geoip-city", db.city, "--geoip-asn", db.asn, file.path])
        #expect(status == 0, "\(err)")
        let alerts = out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(alerts.count == 1, "\(out)\n\(err)")
        let alert = try #require(alerts.first)
        #expect(alert["status"] as? String == "final")
        #expect(alert["fidelity"] as? String == "high")
        #expect(alert["activity_type"] as? String == "multiple_ip_network_city")
        let text = String(decoding: try JSONSerialization.data(withJSONObject: alert), as: UTF8.self)
        for expected in ["Seattle", "Frankfurt am Main", "EXAMPLE-HOME-ISP", "EXAMPLE-VPS"] {
            #expect(text.contains(expected), "\(expected) in \(text)")
        }

        let (seedStatus, seedOut, seedErr) = try run(["scan", file.path])
        #expect(seedStatus == 0, "\(seedErr)")
        #expect(seedOut.isEmpty, "seed looks at temporary (ASIA) keys only: \(seedOut)")
    }

    @Test func aFileThatIsNotADatabaseExitsTwo() throws {
        let db = try GeoIPFixtures.require()
        let (status, _, err) = try run(["check-config", "--skip-kafka-check", "--geoip-asn", db.directory.appendingPathComponent("../").path])
        #expect(status == 2)
        #expect(err.contains("enrichment.asn_database") && err.contains("cannot be opened"), "\(err)")
    }
}
