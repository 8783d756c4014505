// End-to-end benchmark helper (scripts/bench-e2e). Four modes, all talking to one local broker:
//
//   RawConsume raw    --bootstrap B --topic T [--partitions 4] [--timeout S] [--kafka name=value]...
//       A bare librdkafka consumer loop (KafkaClient, no decoding: only `valueCount` is read) that
//       reads topic T once from the earliest offset with a fresh group id. A partition is done at its
//       end-of-partition event at or past the high watermark read at start (tansu's high watermark was
//       seen a few records short, so the end-of-partition event, not the watermark, ends a partition).
//       Prints one line of key=value figures: the rate from the first message to the last, and from the
//       first message to caught up (every partition at its end), as tokentrail's "caught up with the input".
//
//   RawConsume pipe   --bootstrap B --topic T [--partitions 4] [--timeout S] [--kafka name=value]...
//       The yardstick for unkeyed input, which crosses the broker twice: a bare librdkafka pipe built
//       as `tokentrail run` is (one consumer subscribed to T and to a second topic, one producer, the
//       pipeline's consumer and producer settings, one thread). It reads T once (fresh group), produces
//       every record again, same bytes, keyed by a fixed 64-byte slice of its value (a stand-in for the
//       grouping key) to a fresh topic of the same partition count, and reads that topic back. Prints
//       one line of key=value figures; the rate is measured from the first record read from T to the
//       last one read back, as bench-e2e measures unkeyed `tokentrail run` (first record -> last
//       observation processed).
//
//   Both print the process's CPU time (user + system, getrusage at the last record) and per record.
//
//   RawConsume latency --bootstrap B --topic INPUT --alerts O [--count N] [--interval-ms MS] [--timeout S]
//       Open-alert latency against a running `tokentrail run`: N times, a fresh principal calls from
//       one address, then from a second one (the trigger, which completes a window); the time from
//       the broker acknowledging the trigger (flush returned) to this process reading the principal's
//       `open` alert (revision 1) on O. Prints p50, p90, p99 and max. This bounds the issue's figure
//       (trigger consumed -> alert acknowledged) from above: it adds the trigger's trip to the
//       consumer and the alert's trip to this reader.
//
//   RawConsume alerts --bootstrap B --topic O --expect FILE [--timeout S]
//       Waits until every (principal_arn, window_start) in the oracle FILE has a `final` alert on O
//       (read_committed), then prints the wall-clock time it saw the last one and the record
//       timestamp of that record (producer create time).
import Foundation
import KafkaClient
import Logging
import Simulation

func argument(_ name: String, _ args: [String]) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("RawConsume: \(message)\n".utf8))
    exit(2)
}

func nowSeconds() -> Double { Date().timeIntervalSince1970 }

/// This process's CPU time so far, user + system, every thread (librdkafka's included): read when the
/// last record is in, before the clients close, so it covers the run (start, join, reading) and not the
/// shutdown. The broker's CPU is not in it.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Every `--kafka name=value` (repeatable): librdkafka properties for the consumer.
func kafkaProperties(_ args: [String]) -> [String: String] {
    var properties: [String: String] = [:]
    for (i, a) in args.enumerated() where a == "--kafka" && i + 1 < args.count {
        let pair = args[i + 1].split(separator: "=", maxSplits: 1).map(String.init)
        guard pair.count == 2 else { fail("--kafka expects name=value, got \(args[i + 1])") }
        properties[pair[0]] = pair[1]
    }
    return properties
}

let args = Array(CommandLine.arguments.dropFirst())
guard let mode = args.first else { fail("usage: RawConsume raw|pipe|alerts|latency --bootstrap B --topic T [--expect FILE] [--timeout S]") }
guard let bootstrap = argument("--bootstrap", args), let topic = argument("--topic", args) else {
    fail("--bootstrap and --topic are required")
}
let timeout = Double(argument("--timeout", args) ?? "600") ?? 600
let logger: Logger = {
    var l = Logger(label: "RawConsume")
    l.logLevel = .warning
    return l
}()

@MainActor func makeConsumer(group: String) -> KafkaConsumer {
    do {
        let c = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                common: KafkaConfiguration(
                    bootstrapServers: bootstrap, clientID: "bench-e2e",
                    // The output topic may not exist yet when the watcher subscribes: look again every second.
                    properties: ["topic.metadata.refresh.interval.ms": "1000"].merging(kafkaProperties(args)) { $1 }),
                groupID: group, sessionTimeoutMilliseconds: 6000),
            logger: logger)
        try c.subscribe(topics: [topic])
        return c
    } catch {
        fail("consumer: \(error)")
    }
}

let group = "bench-e2e-\(mode)-\(UUID().uuidString.prefix(8))"
let started = nowSeconds()

switch mode {
case "raw":
    let consumer = makeConsumer(group: group)
    // High watermarks at start: the topic is complete before this runs.
    var highs: [Int32: Int64] = [:]
    let partitions = Int32(argument("--partitions", args) ?? "4") ?? 4
    for p in 0..<partitions {
        do { highs[p] = try consumer.watermarks(KafkaTopicPartition(topic, p)).high } catch { fail("watermarks of \(topic)[\(p)]: \(error)") }
    }
    if highs.isEmpty { fail("no partitions found for \(topic)") }
    let expected = highs.values.reduce(0, +)
    // A partition is done at its end-of-partition event at or past the high watermark read at start;
    // the rate runs from the first message to the last one.
    var done = Set<Int32>()
    var records = 0, bytes = 0
    var first: Double? = nil, last = 0.0, caughtUp = 0.0
    var eofs = 0
    while done.count < highs.count {
        if nowSeconds() - started > timeout { fail("timeout after \(records) of \(expected) records") }
        let event: KafkaConsumerEvent?
        do { event = try consumer.poll(timeout: .milliseconds(100)) } catch { fail("poll: \(error)") }
        switch event {
        case .message(let m)?:
            if first == nil { first = nowSeconds() }
            records += 1
            bytes += m.valueCount
            last = nowSeconds()
        case .endOfPartition(let tp, let offset)?:
            eofs += 1
            if let h = highs[tp.partition], offset >= h, !done.contains(tp.partition) {
                done.insert(tp.partition)
                if done.count == highs.count { caughtUp = nowSeconds() }
            }
        case .error(let e)?:
            FileHandle.standardError.write(Data("RawConsume: consumer error: \(e)\n".utf8))
        case nil:
            break
        }
    }
    let cpu = processCPUSeconds()
    let f = first ?? last
    let seconds = max(last - f, 1e-9)
    // First record -> caught up (every partition at its end), as `tokentrail run` logs "caught up with the input".
    let toCaughtUp = max(caughtUp - f, 1e-9)
    print(String(format: "raw records=%d high_watermark_sum=%lld bytes=%d partitions=%d join_s=%.3f consume_s=%.3f records_per_s=%.0f mb_per_s=%.1f avg_record_bytes=%.0f caught_up_s=%.3f caught_up_records_per_s=%.0f cpu_s=%.3f cpu_us_per_record=%.2f",
                 records, expected, bytes, highs.count, f - started, seconds, Double(records) / seconds,
                 Double(bytes) / seconds / 1e6, Double(bytes) / Double(max(records, 1)), toCaughtUp, Double(records) / toCaughtUp,
                 cpu, 1e6 * cpu / Double(max(records, 1))))
    try? consumer.close()

case "alerts":
    guard let expectPath = argument("--expect", args) else { fail("--expect FILE is required") }
    let text: String
    do { text = try String(contentsOfFile: expectPath, encoding: .utf8) } catch { fail("cannot read \(expectPath): \(error)") }
    let oracle: [ExpectedAlert]
    do { oracle = try ExpectedAlert.decodeLines(text) } catch { fail("\(expectPath): \(error)") }
    struct Key: Hashable { var arn: String; var start: String }
    let wanted = Set(oracle.map { Key(arn: $0.principalArn, start: "\($0.windowStart)") })
    var seen = Set<Key>()
    var mismatched = 0, finals = 0, opens = 0
    var lastTimestamp: Int64 = 0
    let consumer = makeConsumer(group: group)
    while seen.count < wanted.count {
        if nowSeconds() - started > timeout { fail("timeout: \(seen.count) of \(wanted.count) final alerts seen") }
        let event: KafkaConsumerEvent?
        do { event = try consumer.poll(timeout: .milliseconds(50)) } catch { fail("poll: \(error)") }
        guard case .message(let m)? = event else { continue }
        guard let (status, alert) = try? ExpectedAlert.fromDetectorAlert(m.value) else { continue }
        if status == "open" { opens += 1 }
        guard status == "final" else { continue }
        finals += 1
        let key = Key(arn: alert.principalArn, start: "\(alert.windowStart)")
        if wanted.contains(key) {
            if seen.insert(key).inserted { lastTimestamp = m.timestampMilliseconds ?? 0 }
        } else {
            mismatched += 1
        }
    }
    print(String(format: "alerts expected=%d seen=%d finals=%d opens=%d unexpected_finals=%d done_at=%.3f last_alert_ts=%.3f",
                 wanted.count, seen.count, finals, opens, mismatched, nowSeconds(), Double(lastTimestamp) / 1000))
    try? consumer.close()

case "pipe":
    let partitions = Int32(argument("--partitions", args) ?? "4") ?? 4
    let second = "\(topic)-pipe-\(UUID().uuidString.prefix(8))"
    let common = KafkaConfiguration(bootstrapServers: bootstrap, clientID: "bench-e2e-pipe",
                                    properties: ["topic.metadata.refresh.interval.ms": "1000"].merging(kafkaProperties(args)) { $1 })
    do {
        try KafkaAdmin(configuration: common, logger: logger).createTopics(
            [KafkaTopicSpec(name: second, partitions: Int(partitions), config: ["retention.ms": "3600000"])])
    } catch { fail("create \(second): \(error)") }
    // As `tokentrail run` with unkeyed input: one consumer (read_committed, the pipeline's consumer
    // settings) subscribed to the input and to the second topic, one producer with the pipeline's
    // settings (idempotent, linger.ms 5, lz4, message.max.bytes as the pipeline sets it), one thread.
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    do {
        var consumerConfig = KafkaConsumerConfiguration(common: common, groupID: group, sessionTimeoutMilliseconds: 6000)
        consumerConfig.isolationLevel = .readCommitted
        consumer = try KafkaConsumer(configuration: consumerConfig, logger: logger)
        var producerConfig = KafkaProducerConfiguration(common: common)
        producerConfig.messageMaxBytes = 1_000_000
        producer = try KafkaProducer(configuration: producerConfig, logger: logger)
        try consumer.subscribe(topics: [topic, second])
    } catch { fail("pipe clients: \(error)") }
    // As in `raw`: an input partition is read through at its end-of-partition event at or past the high
    // watermark read at start (tansu's is a few records short); then everything read must come back.
    var highs: [Int32: Int64] = [:]
    for p in 0..<partitions {
        do { highs[p] = try consumer.watermarks(KafkaTopicPartition(topic, p)).high } catch { fail("watermarks of \(topic)[\(p)]: \(error)") }
    }
    // The key stands in for the grouping key (the principal): 64 bytes from a fixed offset of the value,
    // which in a CloudTrail record covers `userIdentity`'s type and principalId. librdkafka's default
    // partitioner spreads the keys as the route stage spreads grouping keys.
    let keyRange = 48..<112
    var read = 0, back = 0, bytes = 0
    var inputDone = Set<Int32>()
    var first: Double? = nil, last = 0.0
    while inputDone.count < highs.count || back < read {
        if nowSeconds() - started > timeout { fail("timeout: \(read) read and produced, \(back) read back") }
        let event: KafkaConsumerEvent?
        do { event = try consumer.poll(timeout: .milliseconds(100)) } catch { fail("poll: \(error)") }
        switch event {
        case .message(let m)?:
            if m.topic == second {
                back += 1
                last = nowSeconds()
                continue
            }
            if first == nil { first = nowSeconds() }
            read += 1
            bytes += m.valueCount
            if let failure = m.withValueBytes({ value in
                let key = UnsafeRawBufferPointer(rebasing: value[min(keyRange.lowerBound, value.count)..<min(keyRange.upperBound, value.count)])
                return producer.sendBytes(topic: second, key: key, value: value)
            }) {
                fail("produce: \(failure)")
            }
        case .endOfPartition(let tp, let offset)?:
            if tp.topic == topic, let h = highs[tp.partition], offset >= h { inputDone.insert(tp.partition) }
        case .error(let e)?:
            FileHandle.standardError.write(Data("RawConsume: consumer error: \(e)\n".utf8))
        case nil:
            break
        }
    }
    let cpu = processCPUSeconds()
    let f = first ?? last
    let seconds = max(last - f, 1e-9)
    print(String(format: "pipe records=%d bytes=%d partitions=%d join_s=%.3f pipe_s=%.3f records_per_s=%.0f mb_per_s=%.1f cpu_s=%.3f cpu_us_per_record=%.2f",
                 back, bytes, Int(partitions), f - started, seconds, Double(back) / seconds, Double(bytes) / seconds / 1e6,
                 cpu, 1e6 * cpu / Double(max(back, 1))))
    try? producer.close(timeout: .seconds(10))
    try? consumer.close()

case "latency":
    guard let alertsTopic = argument("--alerts", args) else { fail("--alerts O is required") }
    let count = Int(argument("--count", args) ?? "200") ?? 200
    let interval = Double(argument("--interval-ms", args) ?? "250") ?? 250
    let producer: KafkaProducer
    do {
        producer = try KafkaProducer(configuration: KafkaProducerConfiguration(common: KafkaConfiguration(bootstrapServers: bootstrap, clientID: "bench-latency")),
                                     logger: logger)
    } catch { fail("producer: \(error)") }
    // The reader reads the alert topic from the start and keeps only the probes' alerts.
    let readerConfig = KafkaConsumerConfiguration(
        common: KafkaConfiguration(bootstrapServers: bootstrap, clientID: "bench-latency",
                                   properties: ["fetch.wait.max.ms": "5", "topic.metadata.refresh.interval.ms": "1000"]),
        groupID: group, sessionTimeoutMilliseconds: 6000)
    let reader: KafkaConsumer
    do {
        reader = try KafkaConsumer(configuration: readerConfig, logger: logger)
        try reader.subscribe(topics: [alertsTopic])
    } catch { fail("reader: \(error)") }
    let run = UUID().uuidString.prefix(8).lowercased()
    func event(_ arn: String, _ address: String, _ id: String) -> [UInt8] {
        let time = Date().formatted(Date.ISO8601FormatStyle())
        return Array(#"{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROALATENCY:probe","arn":"\#(arn)","accountId":"111122223333","accessKeyId":"ASIALATENCYPROBE0001"},"eventTime":"\#(time)","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","awsRegion":"us-east-1","sourceIPAddress":"\#(address)","userAgent":"aws-cli/2.15.0","eventID":"\#(id)","eventType":"AwsApiCall","recipientAccountId":"111122223333","eventCategory":"Management"}"#.utf8)
    }
    // Let the reader join before the first probe.
    let joinUntil = nowSeconds() + 30
    while (try? reader.assignment())?.isEmpty ?? true, nowSeconds() < joinUntil { _ = try? reader.poll(timeout: .milliseconds(100)) }
    var sentAt: [String: Double] = [:]
    var latencies: [Double] = []
    var toProduced: [Double] = []  // trigger acknowledged -> the alert record's timestamp (tokentrail produced it)
    var next = nowSeconds()
    var sent = 0
    while latencies.count < count {
        if nowSeconds() - started > timeout { fail("timeout: \(latencies.count) of \(count) open alerts seen") }
        if sent < count, nowSeconds() >= next {
            let arn = "arn:aws:sts::111122223333:assumed-role/latency/probe-\(run)-\(sent)"
            do {
                try producer.send(topic: topic, partition: nil, key: Array(arn.utf8), value: event(arn, "198.51.100.1", "\(run)-\(sent)-a"))
                try producer.flush(timeout: .seconds(10))
                try producer.send(topic: topic, partition: nil, key: Array(arn.utf8), value: event(arn, "198.51.100.2", "\(run)-\(sent)-b"))
                try producer.flush(timeout: .seconds(10))
            } catch { fail("produce: \(error)") }
            sentAt[arn] = nowSeconds()
            sent += 1
            next += interval / 1000
        }
        guard case .message(let m)? = try? reader.poll(timeout: .milliseconds(5)) else { continue }
        let received = nowSeconds()
        guard let j = try? JSONSerialization.jsonObject(with: Data(m.value)) as? [String: Any],
              j["status"] as? String == "open", j["revision"] as? Int == 1,
              let arn = (j["principal"] as? [String: Any])?["arn"] as? String, let t = sentAt.removeValue(forKey: arn) else { continue }
        latencies.append(received - t)
        if let ts = m.timestampMilliseconds { toProduced.append(Double(ts) / 1000 - t) }
    }
    latencies.sort()
    toProduced.sort()
    func q(_ values: [Double], _ p: Double) -> Double { values[min(values.count - 1, Int((Double(values.count) * p).rounded(.up)) - 1)] * 1000 }
    // The second part splits the first: up to tokentrail's produce of the alert (its record timestamp, same
    // host clock), the rest being the alert's own Kafka hop.
    print(String(format: "latency probes=%d p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f to_produced_p50_ms=%.1f to_produced_p99_ms=%.1f",
                 latencies.count, q(latencies, 0.5), q(latencies, 0.9), q(latencies, 0.99), latencies.last! * 1000,
                 toProduced.isEmpty ? .nan : q(toProduced, 0.5), toProduced.isEmpty ? .nan : q(toProduced, 0.99)))
    try? producer.close(timeout: .seconds(10))
    try? reader.close()

default:
    fail("unknown mode \(mode)")
}
