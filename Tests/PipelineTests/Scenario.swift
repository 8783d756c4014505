import Foundation
import KafkaClient
import KafkaTestSupport
import Testing

/// One end-to-end run: topics of its own, the simulator's traffic and oracle, tokentrail processes.
final class Scenario {
    let bootstrap: String
    let input = TestBroker.unique("cloudtrail")
    let output = TestBroker.unique("alerts")
    let group = TestBroker.unique("tokentrail")
    let expectFile = FileManager.default.temporaryDirectory.appendingPathComponent("expect-\(UInt32.random(in: 0...UInt32.max)).jsonl")

    init(bootstrap: String, partitions: Int = 4) throws {
        self.bootstrap = bootstrap
        try TestBroker.createTopic(bootstrap, input, partitions: partitions)
    }

    /// On librdkafka's mock cluster, which has no CreateTopics: every topic the run uses is created
    /// here, led by broker 1, but the output topic, led by `outputLeader` (so that errors injected
    /// into that broker's produce requests hit alerts and nothing else).
    init(mock: MockCluster, partitions: Int32 = 4, outputLeader: Int32 = 2) throws {
        bootstrap = mock.bootstrap
        try mock.createTopic(input, partitions: partitions, leader: 1)
        for topic in ["\(group).repartition", "\(group).checkpoints", "\(group).dlq"] {
            try mock.createTopic(topic, partitions: partitions, leader: 1)
        }
        try mock.createTopic(output, partitions: 2, leader: outputLeader)
    }

    /// Runs `tokentrail simulate` into the input topic; returns the oracle's expected final alerts.
    @discardableResult
    func simulate(_ arguments: [String]) throws -> Set<String> {
        let sim = try TokentrailProcess(
            ["simulate", "--bootstrap-servers", bootstrap, "--topic", input, "--expect", expectFile.path] + arguments, name: "simulate")
        let status = sim.wait(timeout: .seconds(240))
        guard status == 0 else { throw Failure("simulate exited \(String(describing: status)):\n\(sim.log.suffix(2000))") }
        return try expected()
    }

    func expected() throws -> Set<String> {
        let text = try String(contentsOf: expectFile, encoding: .utf8)
        return Set(text.split(separator: "\n").compactMap { line -> String? in
            guard let j = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let arn = j["principal_arn"] as? String, let start = j["window_start"] as? String,
                  let addresses = j["source_addresses"] as? [String] else { return nil }
            return Self.signature(arn, start, addresses)
        })
    }

    static func signature(_ arn: String, _ start: String, _ addresses: [String]) -> String {
        "\(arn) @ \(start) : \(addresses.sorted().joined(separator: ","))"
    }

    func start(_ name: String, _ extra: [String] = []) throws -> TokentrailProcess {
        try TokentrailProcess(TokentrailProcess.runArguments(bootstrap: bootstrap, input: [input], output: output, group: group, extra: extra), name: name)
    }

    /// Reads alerts until the distinct final windows cover `expected` (or the deadline passes).
    func awaitFinals(_ reader: AlertReader, covering expected: Set<String>, timeout: Duration) throws -> Set<String> {
        try reader.read(until: .now + timeout) { alerts in
            Set(alerts.filter { $0.status == "final" }.map { Self.signature($0.principal, $0.windowStart, $0.addresses) }).isSuperset(of: expected)
        }
        // A little longer: anything extra that was on its way shows up too.
        try reader.read(until: .now + .seconds(3)) { _ in false }
        return Set(reader.finals.map { Self.signature($0.principal, $0.windowStart, $0.addresses) })
    }

    /// One tokentrail process from start to SIGTERM: reads alerts until the finals cover `expected`,
    /// then stops it (which must exit 0). Returns the finals' signatures, the reader and the log.
    func detectUntilFinals(_ name: String, _ extra: [String] = [], covering expected: Set<String>, timeout: Duration)
        throws -> (got: Set<String>, reader: AlertReader, log: String)
    {
        let tt = try start(name, extra)
        let reader = try AlertReader(bootstrap: bootstrap, topic: output)
        let got = try awaitFinals(reader, covering: expected, timeout: timeout)
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0)
        return (got, reader, tt.log)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }
}

/// Differences between what arrived and what the oracle expects, short enough for a test report.
func diff(_ got: Set<String>, _ expected: Set<String>) -> String {
    let missing = expected.subtracting(got), extra = got.subtracting(expected)
    return "missing \(missing.count): \(missing.sorted().prefix(3)); extra \(extra.count): \(extra.sorted().prefix(3))"
}

/// The same alert id and revision must carry the same content, wherever it was repeated.
func inconsistentRepeats(_ alerts: [ReadAlert]) -> [String] {
    var seen: [String: String] = [:]
    var bad: [String] = []
    for a in alerts {
        let k = "\(a.id)#\(a.revision)"
        let c = a.contentWithoutDetectedAt
        if let prior = seen[k], prior != c { bad.append(k) } else { seen[k] = c }
    }
    return bad
}
