import ArgumentParser
import CloudTrail
import Foundation
import KafkaClient
import Logging
import Simulation
import Synchronization

/// `--partition-order` values (the library's `PartitionOrder`, spelled for the command line).
enum PartitionOrderOption: String, ExpressibleByArgument, CaseIterable {
    case interleaved, sequential
    var order: PartitionOrder { self == .sequential ? .sequential : .interleaved }
}

/// Synthetic CloudTrail traffic with injected attacks and noise, into a topic or to stdout: the
/// end-to-end tests', the demo's and the benchmarks' source, with the oracle's answer alongside.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate synthetic CloudTrail traffic with injected attacks.",
        discussion: """
            Deterministic for a given seed and options. Without --topic, events are written to stdout \
            as JSON lines (one record value per line). With --expect, the final alerts the seed rule \
            must produce are written as JSON lines before any traffic.
            """)

    @Option(help: "Good events to generate (attacks and near misses included).")
    var count = 100_000
    @Option(help: "Injected attacks: (principal, 30-minute window) pairs with 2-5 addresses.")
    var attacks = 50
    @Option(help: "Near-miss principals (two addresses either side of a window boundary); default grows with --count.")
    var nearMisses: Int?
    @Option(help: "Seed of everything random.")
    var seed: UInt64 = 1
    @Option(help: "Input partitions the events are assigned to.")
    var partitions = 4
    @Option(help: "Earliest event time, RFC 3339.")
    var start = "2026-03-02T00:00:00Z"
    @Option(help: "Span of event times, in minutes.")
    var durationMinutes = 360
    @Option(help: "Bound on event-time disorder within a partition, seconds (keep below the detector's time.max_out_of_orderness, 5m by default).")
    var maxDisorderSeconds = 60
    @Flag(help: "Keyed input: partition by principal ARN and set it as the record key.")
    var keyed = false
    @Option(help: "Events per record: above 1, records are {\"Records\": [...]} documents.")
    var batch = 1
    @Option(help: "Bad records to mix in (invalid JSON, random bytes, a 5 MiB record, a batch with a bad member).")
    var badRecords = 0
    @Option(help: "Events per second; 0 is as fast as possible.")
    var rate: Double = 0
    @Option(help: "Produce to this Kafka topic (created with --partitions if missing) instead of stdout.")
    var topic: String?
    /// The cluster and its security settings (with --topic), as `run` reads them: `--config`,
    /// `TOKENTRAIL_*`, `--kafka`, `--bootstrap-servers`.
    @OptionGroup var options: ConfigurationOptions
    @Option(help: "retention.ms of a topic this command creates.")
    var retentionMs = 7 * 24 * 3_600_000
    @Option(help: "interleaved (event-time order across partitions) or sequential (all of partition 0, then 1, ...).")
    var partitionOrder: PartitionOrderOption = .interleaved
    @Option(help: "Write the expected final alerts (JSON lines) to this file.")
    var expect: String?

    func validate() throws {
        guard count >= 0 else { throw ValidationError("--count must be >= 0") }
        guard rate >= 0, rate.isFinite else { throw ValidationError("--rate must be >= 0") }
        guard durationMinutes >= 1 else { throw ValidationError("--duration-minutes must be >= 1") }
        guard maxDisorderSeconds >= 0 else { throw ValidationError("--max-disorder-seconds must be >= 0") }
        guard RFC3339.parse(start) != nil else { throw ValidationError("--start is not RFC 3339: \(start)") }
        if options.bootstrapServers != nil && topic == nil { throw ValidationError("--bootstrap-servers needs --topic") }
        if let topic, topic.isEmpty { throw ValidationError("--topic must not be empty") }
    }

    func run() throws {
        var c = SimulationConfiguration()
        c.seed = seed
        c.eventCount = count
        c.attackCount = attacks
        c.nearMissCount = nearMisses
        c.partitions = partitions
        c.keyed = keyed
        c.start = RFC3339.parse(start) ?? c.start
        c.duration = .seconds(durationMinutes * 60)
        c.maxDisorder = .seconds(maxDisorderSeconds)
        let generator: TrafficGenerator
        let stream: RecordStream
        do {
            generator = try TrafficGenerator(c)
            stream = try RecordStream(
                generator: generator, options: RecordOptions(batchSize: batch, badRecords: badRecords, order: partitionOrder.order))
        } catch {
            throw ValidationError(error.description)
        }
        if let expect {
            let alerts = generator.expectedAlerts()
            do {
                try Data(ExpectedAlert.encodeLines(alerts).utf8).write(to: URL(fileURLWithPath: expect), options: .atomic)
            } catch {
                throw CommandFailure("cannot write --expect file \(expect): \(error.localizedDescription)")
            }
        }
        let sink: any RecordSink = try topic.map { topic in
            try KafkaSink(topic: topic, kafka: options.loadForCluster(clientID: "tokentrail-simulate").kafka, partitions: partitions, retentionMs: retentionMs, largeRecords: badRecords > 0)
        } ?? StdoutSink()
        var progress = ProgressLine(unit: .events, total: count)
        let began = ContinuousClock.now
        var paced = 0
        var records = 0
        for record in stream {
            try sink.write(record)
            records += 1
            paced += Swift.max(record.eventCount, 1)
            progress.advance(done: record.eventCount, events: record.eventCount)
            if rate > 0 {
                let due = began + .seconds(Double(paced) / rate)
                let now = ContinuousClock.now
                if due > now { Thread.sleep(forTimeInterval: (due - now).seconds) }
            }
        }
        try sink.finish()
        progress.finish()
        let seconds = (ContinuousClock.now - began).seconds
        let destination = topic.map { "topic \($0)" } ?? "stdout"
        FileHandle.standardError.write(Data(String(format: "simulate: %d events in %d records (%d bad) to %@ in %.2f s (%.0f events/s); %d attacks injected\n",
                                                   count, records, badRecords, destination, seconds, Double(count) / Swift.max(seconds, 1e-9), generator.injectedAttacks.count).utf8))
    }
}

/// A failure after validation (I/O, Kafka), reported as `Error: <message>` with a non-zero exit.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

protocol RecordSink {
    func write(_ record: SimulatedRecord) throws
    func finish() throws
}

/// JSON lines on stdout, written in large chunks (records never contain a newline).
final class StdoutSink: RecordSink {
    private let lines = StdoutLines()

    func write(_ record: SimulatedRecord) throws {
        lines.append(record.value)
        if lines.count >= 1 << 20 { try lines.flush() }
    }

    func finish() throws { try lines.flush() }
}

/// Produces each record to the partition the generator assigned it, creating the topic if missing.
final class KafkaSink: RecordSink {
    let output: TopicProducer

    init(topic: String, kafka common: KafkaConfiguration, partitions: Int, retentionMs: Int, largeRecords: Bool) throws {
        var config = ["retention.ms": String(retentionMs)]
        if largeRecords { config["max.message.bytes"] = String(16 << 20) }
        var producerConfiguration = KafkaProducerConfiguration(common: common)
        if largeRecords { producerConfiguration.messageMaxBytes = 16 << 20; producerConfiguration.compression = "none" }
        output = try TopicProducer(
            kafka: common, producer: producerConfiguration,
            create: KafkaTopicSpec(name: topic, partitions: partitions, config: config), label: "tokentrail.simulate",
            existing: { existing in
                guard existing >= partitions else {
                    throw CommandFailure("topic \(topic) has \(existing) partitions but the traffic is for \(partitions)")
                }
            })
    }

    func write(_ record: SimulatedRecord) throws {
        try output.send(partition: Int32(record.partition), key: record.key, value: record.value)
    }

    func finish() throws { try output.finish() }
}

extension Duration {
    /// Fractional seconds, for rates and sleeps.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
