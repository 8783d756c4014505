import Foundation
import KafkaClient
import KafkaTestSupport

/// The built `tokentrail` binary, run as a child process with its output in a log file.
final class TokentrailProcess: @unchecked Sendable {
    let process = Process()
    let logURL: URL

    static var binary: URL { TokentrailBinary.url }

    init(_ arguments: [String], name: String) throws {
        logURL = FileManager.default.temporaryDirectory.appendingPathComponent("tokentrail-\(name)-\(UInt32.random(in: 0...UInt32.max)).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logURL)
        process.executableURL = Self.binary
        process.arguments = arguments
        // The test's own TOKENTRAIL_* variables (the broker address) must not reach it as config keys.
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TOKENTRAIL_") }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var isRunning: Bool { process.isRunning }
    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits for exit up to `timeout`; returns the exit status, or nil if still running.
    func wait(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return process.isRunning ? nil : process.terminationStatus
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// Waits until the log contains `text` (true) or the process exits or `timeout` passes (false).
    func awaitLog(_ text: String, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !log.contains(text) {
            guard process.isRunning, ContinuousClock.now < deadline else { return log.contains(text) }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return true
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        // Failures quote the log; TOKENTRAIL_KEEP_TEST_LOGS=1 keeps the file for a closer look.
        if ProcessInfo.processInfo.environment["TOKENTRAIL_KEEP_TEST_LOGS"] != "1" { try? FileManager.default.removeItem(at: logURL) }
    }

    /// Arguments shared by the end-to-end tests: short session, frequent commits, short idle timeout.
    static func runArguments(bootstrap: String, input: [String], output: String, group: String, extra: [String] = []) -> [String] {
        ["run", "--bootstrap-servers", bootstrap, "--output-topic", output, "--group-id", group,
         "--dead-letter-topic", "\(group).dlq", "--session-timeout-ms", "6000", "--commit-interval-ms", "500",
         "--idle-timeout-seconds", "3", "--log-level", "info", "--metrics-port", "0"]
            + input.flatMap { ["--input-topic", $0] } + extra
    }
}

/// One alert as downstream reads it: the JSON object, parsed.
struct ReadAlert {
    var json: [String: Any]
    var raw: String
    /// Where it was read: "partition@offset".
    var position = ""
    var id: String { json["alert_id"] as? String ?? "" }
    var status: String { json["status"] as? String ?? "" }
    var revision: Int { json["revision"] as? Int ?? 0 }
    var principal: String { (json["principal"] as? [String: Any])?["arn"] as? String ?? "" }
    var windowStart: String { (json["window"] as? [String: Any])?["start"] as? String ?? "" }
    var addresses: [String] { (json["source_addresses"] as? [String: Any])?["values"] as? [String] ?? [] }
    /// The content without `detected_at` (the one fact a replay may change, which the response repeats).
    var contentWithoutDetectedAt: String {
        let j = withoutDetectionTime(json)
        return String(decoding: (try? JSONSerialization.data(withJSONObject: j, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
    }
}

/// Reads every alert on a topic (read_committed), until a condition or a deadline.
final class AlertReader {
    let consumer: KafkaConsumer
    private(set) var alerts: [ReadAlert] = []

    init(bootstrap: String, topic: String) throws {
        consumer = try KafkaConsumer(configuration: TestBroker.consumerConfig(bootstrap, group: TestBroker.unique("reader")), logger: TestBroker.logger)
        try consumer.subscribe(topics: [topic])
    }

    @discardableResult
    func read(until deadline: ContinuousClock.Instant, stop: ([ReadAlert]) -> Bool) throws -> [ReadAlert] {
        while ContinuousClock.now < deadline, !stop(alerts) {
            guard case .message(let m)? = try consumer.poll(timeout: .milliseconds(100)) else { continue }
            let raw = String(decoding: m.value, as: UTF8.self)
            if let j = try? JSONSerialization.jsonObject(with: Data(m.value)) as? [String: Any] {
                alerts.append(ReadAlert(json: j, raw: raw, position: "\(m.partition)@\(m.offset)"))
            }
        }
        return alerts
    }

    var finals: [ReadAlert] { alerts.filter { $0.status == "final" } }

    deinit { try? consumer.close() }
}

/// A CloudTrail event in CloudTrail's own shape, for tests that need a handful.
func cloudTrailEvent(arn: String, key: String, ip: String, time: String, type: String = "AssumedRole",
                     userAgent: String = "aws-cli/2.15.0 Python/3.11.6", id: String = UUID().uuidString,
                     eventSource: String = "s3.amazonaws.com") -> String {
    """
    {"eventVersion":"1.09","userIdentity":{"type":"\(type)","principalId":"AROAEXAMPLE:session","arn":"\(arn)","accountId":"111122223333","accessKeyId":"\(key)","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLE","arn":"arn:aws:iam::111122223333:role/app","accountId":"111122223333","userName":"app"},"attributes":{"creationDate":"2026-03-02T07:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"\(time)","eventSource":"\(eventSource)","eventName":"ListBuckets","awsRegion":"us-east-1","sourceIPAddress":"\(ip)","userAgent":"\(userAgent)","requestParameters":null,"responseElements":null,"requestID":"R1","eventID":"\(id)","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}
    """
}

func produceRaw(_ bootstrap: String, topic: String, _ records: [(partition: Int32?, key: String?, value: [UInt8])]) throws {
    let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(common: KafkaConfiguration(bootstrapServers: bootstrap)), logger: TestBroker.logger)
    for r in records { try producer.send(topic: topic, partition: r.partition, key: r.key.map { Array($0.utf8) }, value: r.value) }
    try producer.close(timeout: .seconds(30))
}

/// Every record on `topic` that arrives within `duration`, read from the start of every partition
/// (assigned, not subscribed: no group join to wait for).
func readTopic(_ bootstrap: String, _ topic: String, for duration: Duration) throws -> [KafkaMessage] {
    let partitions = try KafkaAdmin(configuration: KafkaConfiguration(bootstrapServers: bootstrap), logger: TestBroker.logger)
        .partitionCounts()[topic] ?? 0
    let c = try KafkaConsumer(configuration: TestBroker.consumerConfig(bootstrap, group: TestBroker.unique("read")), logger: TestBroker.logger)
    try c.assign((0..<Int32(partitions)).map { KafkaTopicPartitionOffset(KafkaTopicPartition(topic, $0), KafkaOffset(0)) })
    var out: [KafkaMessage] = []
    let until = ContinuousClock.now + duration
    while ContinuousClock.now < until {
        if case .message(let m)? = try c.poll(timeout: .milliseconds(100)) { out.append(m) }
    }
    try c.close()
    return out
}

/// An alert without what may differ between repeats: `detected_at`, and the response's time, which
/// is `detected_at` (in `revoke_issued_before`, the policy document and the command).
func withoutDetectionTime(_ alert: [String: Any]) -> [String: Any] {
    var alert = alert
    let detected = alert.removeValue(forKey: "detected_at") as? String ?? ""
    if let response = alert["response"] as? [String: Any] {
        alert["response"] = response.mapValues { value in
            (value as? String).map { $0.replacingOccurrences(of: detected, with: "<detected_at>") } ?? value
        }
    }
    return alert
}
