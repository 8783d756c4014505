import CloudTrail
import Foundation
import KafkaClient
import KafkaTestSupport
import Simulation
import Testing

/// `tokentrail simulate` against a real broker: what lands in each partition is exactly the
/// library's record stream, bad input included, and `--expect` is the oracle.
@Suite(.ownThreads, .enabled(if: TestBroker.isEnabled, "needs a broker: TOKENTRAIL_TEST_BOOTSTRAP (scripts/dev-broker start)"))
struct SimulateCommandTests {
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tokentrail")
    }

    @Test func producesTheRecordStreamToItsPartitions() throws {
        let bootstrap = try TestBroker.require()
        let topic = TestBroker.unique("simulate")
        let expectFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(topic).jsonl")
        defer { try? FileManager.default.removeItem(at: expectFile) }
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["simulate", "--count", "1500", "--attacks", "4", "--seed", "3", "--partitions", "3",
                             "--bad-records", "4", "--topic", topic, "--bootstrap-servers", bootstrap,
                             "--expect", expectFile.path]
        let stderr = Pipe()
        process.standardError = stderr
        try process.run()
        process.waitUntilExit()
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(message)")

        var c = SimulationConfiguration()
        c.eventCount = 1500
        c.attackCount = 4
        c.seed = 3
        c.partitions = 3
        let generator = try TrafficGenerator(c)
        let records = Array(try RecordStream(generator: generator, options: RecordOptions(badRecords: 4)))
        let expected = try ExpectedAlert.decodeLines(String(decoding: try Data(contentsOf: expectFile), as: UTF8.self))
        #expect(expected == generator.expectedAlerts() && expected.count == 4)

        let consumer = try KafkaConsumer(configuration: TestBroker.consumerConfig(bootstrap, group: TestBroker.unique("g")), logger: TestBroker.logger)
        try consumer.subscribe(topics: [topic])
        var got: [Int: [[UInt8]]] = [:]
        var count = 0
        let deadline = ContinuousClock.now + .seconds(60)
        while count < records.count, ContinuousClock.now < deadline {
            guard case .message(let m) = try consumer.poll(timeout: .milliseconds(100)) else { continue }
            got[Int(m.partition), default: []].append(m.value)
            count += 1
        }
        try consumer.close()
        #expect(Set(got.keys) == [0, 1, 2])
        for p in 0..<3 {
            let want = records.filter { $0.partition == p }.map(\.value)
            let have = got[p] ?? []
            #expect(have.count == want.count, "partition \(p)")
            #expect(have == want, "partition \(p) holds the stream's records in order")
        }
        #expect(records.contains { $0.badKind == .oversized })
    }
}
