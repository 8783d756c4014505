import CloudTrail
import Foundation
import KafkaClient
import KafkaTestSupport
import Testing

/// `tokentrail replay` against the test broker: what lands in the topic is the files' events.
@Suite(.ownThreads, .enabled(if: TestBroker.isEnabled, "needs a broker: TOKENTRAIL_TEST_BOOTSTRAP (scripts/dev-broker start)"))
struct ReplayCommandTests {
    /// A directory with a gzip Records file and a JSON-lines file holding one broken line.
    static func directory(_ corpus: ScanCorpus) throws -> String {
        let dir = try ScanCorpus.temporaryDirectory("replay")
        try ScanCorpus.write(corpus.events[..<120], as: .recordsGzip, to: "\(dir)/a.json")
        var lines = corpus.events[120...].map { String(decoding: $0, as: UTF8.self) }
        lines.insert("{broken", at: 5)
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: "\(dir)/b.jsonl"))
        return dir
    }

    /// A record read back, copied out: librdkafka's destroy waits for every message it handed out.
    struct Record {
        var key: [UInt8]?
        var value: [UInt8]
        var partition: Int32
    }

    /// Reads the topic's partitions from the beginning, outside any group.
    static func read(_ bootstrap: String, topic: String, partitions: Int, count: Int) throws -> [Record] {
        let consumer = try KafkaConsumer(configuration: TestBroker.consumerConfig(bootstrap, group: TestBroker.unique("g")), logger: TestBroker.logger)
        try consumer.assign((0..<partitions).map { KafkaTopicPartitionOffset(KafkaTopicPartition(topic, Int32($0)), .beginning) })
        var got: [Record] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while got.count < count, ContinuousClock.now < deadline {
            guard case .message(let m) = try consumer.poll(timeout: .milliseconds(100)) else { continue }
            got.append(Record(key: m.key, value: m.value, partition: m.partition))
        }
        // Anything beyond `count` would be a duplicate: give it a moment to show up.
        let settle = ContinuousClock.now + .seconds(1)
        while ContinuousClock.now < settle {
            if case .message(let m) = try consumer.poll(timeout: .milliseconds(100)) {
                got.append(Record(key: m.key, value: m.value, partition: m.partition))
            }
        }
        try consumer.close()
        return got
    }

    @Test func oneEventPerRecordKeyedByPrincipal() throws {
        let bootstrap = try TestBroker.require()
        let corpus = try ScanCorpus(seed: 31, count: 200, attacks: 2)
        let dir = try Self.directory(corpus)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let topic = TestBroker.unique("replay")
        let (status, _, err) = try Tokentrail.run(["replay", dir, "--topic", topic, "--bootstrap-servers", bootstrap,
                                                   "--key", "principal", "--partitions", "3"])
        #expect(status == 0, "\(err)")
        #expect(err.contains("2 files (0 skipped)"), "\(err)")
        #expect(err.contains("200 events in 200 records to \(topic)"), "\(err)")
        #expect(err.contains("bad records (not sent): 1"))
        #expect(err.contains("\(dir)/b.jsonl:6: not a JSON object or array"))

        let got = try Self.read(bootstrap, topic: topic, partitions: 3, count: 200)
        #expect(got.count == 200)
        // The events' own bytes, each once.
        #expect(got.map(\.value).sorted { $0.lexicographicallyPrecedes($1) } == corpus.events.sorted { $0.lexicographicallyPrecedes($1) })
        let decoder = CloudTrailDecoder()
        for m in got {
            let arn = decoder.decode(m.value).events.first?.userIdentity.arn
            #expect(m.key.map { String(decoding: $0, as: UTF8.self) } == arn)
        }
        #expect(Set(got.map(\.partition)).count > 1, "keyed records spread over the partitions")
    }

    @Test func batchesIntoRecordsDocumentsAtARate() throws {
        let bootstrap = try TestBroker.require()
        let corpus = try ScanCorpus(seed: 32, count: 200, attacks: 2)
        let dir = try Self.directory(corpus)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let topic = TestBroker.unique("replay-batch")
        let began = ContinuousClock.now
        let (status, _, err) = try Tokentrail.run(["replay", dir, "--topic", topic, "--bootstrap-servers", bootstrap,
                                                   "--batch", "64", "--rate", "400"])
        let elapsed = ContinuousClock.now - began
        #expect(status == 0, "\(err)")
        #expect(err.contains("200 events in 4 records"), "\(err)")
        // 200 events at 400/s: the last batch (events 193-200) is due 0.48 s after the first.
        #expect(elapsed >= .milliseconds(450))

        let got = try Self.read(bootstrap, topic: topic, partitions: 1, count: 4)
        #expect(got.count == 4)
        #expect(got.allSatisfy { $0.key == nil && $0.value.starts(with: Array(#"{"Records":["#.utf8)) })
        let sizes = got.map { CloudTrailDecoder().decode($0.value).events.count }
        #expect(sizes.sorted() == [8, 64, 64, 64])
        let events = got.flatMap { CloudTrailDecoder().decode($0.value).events.compactMap(\.eventID) }
        #expect(events.sorted() == corpus.events.compactMap { CloudTrailDecoder().decode($0).events.first?.eventID }.sorted())
    }
}

@Suite struct ReplayFailureTests {
    @Test func unreachableBrokerExitsOne() throws {
        let dir = try ScanCorpus.temporaryDirectory("replay-fail")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ScanCorpus.write([Array(#"{"eventTime":"2026-03-02T00:00:00Z"}"#.utf8)], as: .jsonLines, to: "\(dir)/a.jsonl")
        let (status, _, err) = try Tokentrail.run(["replay", dir, "--topic", "t", "--bootstrap-servers", "127.0.0.1:1"])
        #expect(status == 1)
        #expect(err.contains("tokentrail: replay: Kafka at 127.0.0.1:1"), "\(err)")
    }
}
