import ArgumentParser
import CloudTrail
import Foundation
import KafkaClient
import Logging
import TokentrailCore

/// `--key` values.
enum ReplayKey: String, ExpressibleByArgument, CaseIterable {
    /// No key: librdkafka spreads records over partitions (the usual unkeyed CloudTrail input).
    case none
    /// `userIdentity.arn`, for a keyed input (`run --input-keyed`).
    case principal
}

/// `tokentrail replay`: CloudTrail files into a topic, as the input of `run`, with the Kafka
/// settings of the configuration (file, `TOKENTRAIL_*`, `--kafka`, `--bootstrap-servers`).
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Produce CloudTrail files into a Kafka topic: one event per record, or Records batches.",
        discussion: """
            Reads what scan reads (files or directories, gzip or not, JSON lines, arrays, Records \
            documents). Each event object is sent with its bytes unchanged; with --batch N, events are \
            gathered into {"Records": [...]} documents of up to N events. An object that is not a \
            Records batch (one event, an EventBridge envelope) is sent as it is. Records that are not \
            JSON are counted and skipped. The producer is idempotent and flushed at the end; the exit \
            status is 1 if any record was not delivered.
            """)

    @OptionGroup var options: ConfigurationOptions

    @Argument(help: "CloudTrail files or directories.")
    var paths: [String]

    @Option(help: "Topic to produce to (default: the first of topics.input).")
    var topic: String?
    @Option(help: "Events per record; above 1, records are {\"Records\": [...]} documents.")
    var batch = 1
    @Option(help: "Record key: none, or principal (userIdentity.arn, for run --input-keyed; only with --batch 1).")
    var key: ReplayKey = .none
    @Option(help: "Events per second; 0 is as fast as possible.")
    var rate: Double = 0
    @Option(help: "Partitions of the topic when this command creates it.")
    var partitions = 1

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be >= 1") }
        guard rate >= 0, rate.isFinite else { throw ValidationError("--rate must be >= 0") }
        guard partitions >= 1 else { throw ValidationError("--partitions must be >= 1") }
        if key == .principal, batch > 1 { throw ValidationError("--key principal needs --batch 1: a batch holds many principals") }
        if let topic, topic.isEmpty { throw ValidationError("--topic must not be empty") }
    }

    func run() throws {
        let (settings, kafka) = try options.loadForCluster(clientID: "tokentrail-replay")
        let topic = self.topic ?? settings.inputTopics.first ?? "cloudtrail"
        let files: CloudTrailFiles
        do {
            files = try CloudTrailFiles(paths: paths)
        } catch {
            printError("tokentrail: replay: \(error)")
            throw ExitCode(1)
        }
        let sender: TopicProducer
        do {
            sender = try TopicProducer(kafka: kafka, producer: KafkaProducerConfiguration(common: kafka, enableIdempotence: true),
                                       create: KafkaTopicSpec(name: topic, partitions: partitions), label: "tokentrail.replay")
        } catch {
            printError("tokentrail: replay: \(error)")
            throw ExitCode(1)
        }
        var writer = ReplayWriter(batch: batch, keyByPrincipal: key == .principal, rate: rate, send: { try sender.send(key: $0, value: $1) })
        var progress = ProgressLine(unit: .bytes, total: files.totalBytes)
        let began = ContinuousClock.now
        var bytes = 0
        do {
            for file in files.files {
                try FileDocumentReader.read(path: file.path, progress: { n in
                    bytes += n
                    let events = writer.events - progress.events
                    progress.advance(done: n, events: events)
                }) { item in
                    switch item {
                    case .problem(let error): writer.noteBad("\(file.path)\(error.line.map { ":\($0)" } ?? ""): \(error.reason.rawValue)")
                    case .document(let document, let line): try writer.add(document: document, origin: "\(file.path):\(line)")
                    }
                }
            }
            try writer.flush()
            try sender.finish()
        } catch {
            progress.finish()
            printError("tokentrail: replay: \(error)")
            throw ExitCode(1)
        }
        let rest = writer.events - progress.events
        progress.advance(events: rest)
        progress.finish()
        let seconds = (ContinuousClock.now - began).seconds
        var lines = [String(format: "replay: %d files (%d skipped), %d bytes, %d events in %d records to %@ in %.2f s (%.0f events/s)",
                            files.files.count, files.skipped, bytes, writer.events, writer.records, topic, seconds,
                            Double(writer.events) / Swift.max(seconds, 1e-9)),
                     "replay: bad records (not sent): \(writer.bad)"]
        lines += writer.badSamples.map { "replay:   \($0)" }
        if writer.bad > writer.badSamples.count { lines.append("replay:   ... and \(writer.bad - writer.badSamples.count) more") }
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

/// Turns documents into records: events split out of `Records` batches and arrays, optionally
/// regrouped into batches of `batch`, paced to `rate` events per second.
struct ReplayWriter {
    let batch: Int
    let keyByPrincipal: Bool
    let rate: Double
    let send: (_ key: [UInt8]?, _ value: [UInt8]) throws -> Void
    private(set) var events = 0
    private(set) var records = 0
    private(set) var bad = 0
    private(set) var badSamples: [String] = []
    private var pending: [UInt8] = []
    private var pendingCount = 0
    private let began = ContinuousClock.now
    private let decoder = CloudTrailDecoder()

    init(batch: Int, keyByPrincipal: Bool, rate: Double, send: @escaping (_ key: [UInt8]?, _ value: [UInt8]) throws -> Void) {
        self.batch = batch
        self.keyByPrincipal = keyByPrincipal
        self.rate = rate
        self.send = send
    }

    mutating func noteBad(_ text: String) {
        bad += 1
        if badSamples.count < 20 { badSamples.append(text) }
    }

    mutating func add(document: UnsafeRawBufferPointer, origin: String) throws {
        guard let layout = EventSplitter.split(document) else { return noteBad("\(origin): not a JSON object or array") }
        switch layout {
        case .single(let range):
            try add(event: UnsafeRawBufferPointer(rebasing: document[range]))
        case .records(let members), .array(let members):
            for (index, range) in members.enumerated() {
                let member = UnsafeRawBufferPointer(rebasing: document[range])
                guard member.first == UInt8(ascii: "{") else {
                    noteBad("\(origin): record \(index): not an object")
                    continue
                }
                try add(event: member)
            }
        }
    }

    private mutating func add(event: UnsafeRawBufferPointer) throws {
        events += 1
        if batch == 1 {
            let key = keyByPrincipal ? decoder.decode(event).events.first?.userIdentity.arn.map { Array($0.utf8) } : nil
            try emit(key: key, value: Array(event), events: 1)
            return
        }
        pending.append(contentsOf: pendingCount == 0 ? Array(#"{"Records":["#.utf8) : [UInt8(ascii: ",")])
        pending.append(contentsOf: event)
        pendingCount += 1
        if pendingCount == batch { try flush() }
    }

    /// Sends a partial batch.
    mutating func flush() throws {
        guard pendingCount > 0 else { return }
        pending.append(contentsOf: Array("]}".utf8))
        let value = pending
        let count = pendingCount
        pending.removeAll(keepingCapacity: true)
        pendingCount = 0
        try emit(key: nil, value: value, events: count)
    }

    private mutating func emit(key: [UInt8]?, value: [UInt8], events count: Int) throws {
        if rate > 0 {
            let due = began + .seconds(Double(events - count) / rate)
            let now = ContinuousClock.now
            if due > now { Thread.sleep(forTimeInterval: (due - now).seconds) }
        }
        try send(key, value)
        records += 1
    }
}

