import Foundation
import KafkaClient
import KafkaTestSupport
import Testing

/// `seed` and `elastic-2026` on one unkeyed stream through the real binary: the route stage looks
/// addresses up in generated GeoIP databases and the enrichment crosses the repartition topic.
@Suite(.ownThreads, .serialized, .enabled(if: TestBroker.isEnabled), .timeLimit(.minutes(6)))
struct ProfilePipelineTests {
    /// scripts/make-test-mmdb.py into a new directory; (city, asn) paths.
    static func databases() throws -> (String, String) {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let python = ProcessInfo.processInfo.environment["TOKENTRAIL_PYTHON"] ?? root.appendingPathComponent(".venv/bin/python").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tt-mmdb-\(UInt32.random(in: 0...UInt32.max))")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [root.appendingPathComponent("scripts/make-test-mmdb.py").path, dir.path]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw Scenario.Failure("scripts/make-test-mmdb.py failed: run scripts/bootstrap") }
        return (dir.appendingPathComponent("city.mmdb").path, dir.appendingPathComponent("asn.mmdb").path)
    }

    @Test func bothProfilesOnOneStream() throws {
        let bootstrap = try TestBroker.require()
        let (city, asn) = try Self.databases()
        let input = TestBroker.unique("ct")
        try TestBroker.createTopic(bootstrap, input, partitions: 2)
        let role = "arn:aws:sts::111122223333:assumed-role/app/i-0abc"
        let user = "arn:aws:iam::111122223333:user/bob"
        try produceRaw(bootstrap, topic: input, [
            // A role session from two addresses of one ISP in Seattle: seed alerts; elastic-2026 ignores roles.
            (0, nil, Array(cloudTrailEvent(arn: role, key: "ASIAEXAMPLE1", ip: "203.0.113.7", time: "2026-03-02T08:05:00Z").utf8)),
            (1, nil, Array(cloudTrailEvent(arn: role, key: "ASIAEXAMPLE1", ip: "203.0.113.9", time: "2026-03-02T08:06:00Z").utf8)),
            // An IAM user's long-term key from Seattle and from a Frankfurt VPS, over IPv4 and IPv6 hosts, two
            // services: elastic-2026 alerts (high); seed does not look at AKIA keys.
            (0, nil, Array(cloudTrailEvent(arn: user, key: "AKIAEXAMPLE", ip: "203.0.113.10", time: "2026-03-02T08:07:00Z", type: "IAMUser").utf8)),
            (1, nil, Array(cloudTrailEvent(arn: user, key: "AKIAEXAMPLE", ip: "198.51.100.20", time: "2026-03-02T08:08:00Z", type: "IAMUser",
                                           userAgent: "python-requests/2.31.0", eventSource: "sts.amazonaws.com").utf8)),
            (0, nil, Array(cloudTrailEvent(arn: user, key: "AKIAEXAMPLE", ip: "2001:db8:1::5", time: "2026-03-02T08:09:00Z", type: "IAMUser").utf8)),
        ])
        func finals(_ name: String, _ extra: [String]) throws -> [ReadAlert] {
            let output = TestBroker.unique("alerts"), group = TestBroker.unique("tt-\(name)")
            let tt = try TokentrailProcess(TokentrailProcess.runArguments(bootstrap: bootstrap, input: [input], output: output,
                                                                          group: group, extra: extra), name: name)
            let reader = try AlertReader(bootstrap: bootstrap, topic: output)
            try reader.read(until: .now + .seconds(60)) { !$0.filter { $0.status == "final" }.isEmpty }
            try reader.read(until: .now + .seconds(3)) { _ in false }
            tt.signal(SIGTERM)
            #expect(tt.wait(timeout: .seconds(30)) == 0, "log:\n\(tt.log.suffix(3000))")
            return reader.finals
        }
        let geoip = ["--geoip-city", city, "--geoip-asn", asn]
        let seed = try finals("seed", geoip)
        #expect(seed.map(\.principal) == [role])
        #expect(seed.first?.json["activity_type"] == nil, "seed does not score")
        let elastic = try finals("elastic", ["--profile", "elastic-2026"] + geoip)
        #expect(elastic.count == 1)
        let alert = try #require(elastic.first)
        #expect(alert.json["grouping_key"] as? String == "AKIAEXAMPLE")
        #expect(alert.json["activity_type"] as? String == "multiple_ip_network_city_user_agent")
        #expect(alert.json["fidelity"] as? String == "high")
        #expect(Set(alert.json["cities"] as? [String] ?? []) == ["Seattle", "Frankfurt am Main", "Dublin"])
        let enrichment = (alert.json["source_addresses"] as? [String: Any])?["enrichment"] as? [[String: Any]] ?? []
        #expect(enrichment.contains { $0["address"] as? String == "198.51.100.20" && $0["as_organization"] as? String == "EXAMPLE-VPS" },
                "\(alert.raw)")
    }
}
