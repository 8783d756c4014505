import Foundation
import KafkaClient
import KafkaTestSupport
import Testing

/// The built `tokentrail` binary as a child process; stdout and stderr kept apart.
final class Tokentrail: @unchecked Sendable {
    let process = Process()
    let outURL: URL
    let errURL: URL

    static var binary: URL { TokentrailBinary.url }

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        let tmp = FileManager.default.temporaryDirectory
        let id = UInt32.random(in: 0...UInt32.max)
        outURL = tmp.appendingPathComponent("tt-out-\(id).log")
        errURL = tmp.appendingPathComponent("tt-err-\(id).log")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.executableURL = Self.binary
        process.arguments = arguments
        // The test's own TOKENTRAIL_* variables (the broker address) must not leak in as config keys.
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TOKENTRAIL_") }
        env.merge(environment) { $1 }
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
    }

    /// Runs to completion: (exit status, stdout, stderr).
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
        let t = try Tokentrail(arguments, environment: environment)
        t.process.waitUntilExit()
        return (t.process.terminationStatus, t.stdout, t.stderr)
    }

    var stdout: String { (try? String(contentsOf: outURL, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }

    func wait(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return process.isRunning ? nil : process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        // Failures quote the output; TOKENTRAIL_KEEP_TEST_LOGS=1 keeps the files for a closer look.
        if ProcessInfo.processInfo.environment["TOKENTRAIL_KEEP_TEST_LOGS"] != "1" {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
    }
}

func writeTemporary(_ text: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tt-config-\(UInt32.random(in: 0...UInt32.max)).yaml")
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

@Suite(.ownThreads) struct CheckConfigCommandTests {
    @Test func validConfigPrintsMaskedEffectiveConfigurationAndExitsZero() throws {
        let path = try writeTemporary("kafka:\n  sasl.username: u\n  sasl.password: cli-secret-value\ngroup_id: from-file\n")
        let (status, out, err) = try Tokentrail.run(["check-config", "--config", path], environment: ["TOKENTRAIL_RULE__THRESHOLD": "3"])
        #expect(status == 0, "\(err)")
        #expect(out.contains("group_id: \"from-file\""))
        #expect(out.contains("threshold: 3"))
        #expect(out.contains("sasl.password: \"****\""))
        #expect(!out.contains("cli-secret-value") && !err.contains("cli-secret-value"))
    }

    @Test func flagsOverrideAndJSONFormat() throws {
        let path = try writeTemporary("group_id: from-file\n")
        let (status, out, _) = try Tokentrail.run(["check-config", "--config", path, "--group-id", "from-flag", "--format", "json"],
                                                  environment: ["TOKENTRAIL_GROUP_ID": "from-env"])
        #expect(status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]
        #expect(object?["group_id"] as? String == "from-flag")
    }

    /// The flags `run` always had still work, and land on their keys.
    @Test func existingRunFlagsMapToTheirKeys() throws {
        let (status, out, err) = try Tokentrail.run([
            "check-config", "--skip-kafka-check", "--input-keyed", "--input-topic", "a", "--input-topic", "b",
            "--commit-interval-ms", "750", "--idle-timeout-seconds", "0", "--max-out-of-orderness-seconds", "90",
            "--processing-guarantee", "exactly_once", "--kafka", "security.protocol=SSL", "--bootstrap-servers", "h:1",
            "--metrics-port", "9999", "--show-sources",
        ])
        #expect(status == 0, "\(err)")
        for line in ["input_keyed: true  # flag --input-keyed", "input: [\"a\", \"b\"]", "commit_interval: \"750ms\"",
                     "idle_timeout: \"off\"", "max_out_of_orderness: \"1m30s\"", "processing_guarantee: \"exactly_once\"",
                     "security.protocol: \"SSL\"  # flag --kafka", "bootstrap.servers: \"h:1\"", "port: 9999"] {
            #expect(out.contains(line), "\(line)\n\(out)")
        }
    }

    @Test(arguments: [
        ("rule:\n  treshold: 3\n", "rule.treshold"),
        ("commit_interval: 30\n", "commit_interval"),
        ("processing_guarantee: maybe\n", "processing_guarantee"),
        ("rule:\n  allowed_networks: [300.0.0.0/8]\n", "rule.allowed_networks"),
        ("metrics:\n  port: -1\n", "metrics.port"),
        ("kafka:\n  security.protocol: CARRIER_PIGEON\n", "kafka.security.protocol"),
    ])
    func malformedConfigExitsTwoNamingTheKey(yaml: String, key: String) throws {
        let path = try writeTemporary(yaml)
        let (status, out, err) = try Tokentrail.run(["check-config", "--config", path])
        #expect(status == 2, "\(err)")
        #expect(err.contains(key), "\(err)")
        #expect(err.contains("allowed:"), "\(err)")
        #expect(out.isEmpty)
    }

    @Test func anUnknownProfileExitsTwoNamingTheKeyAndTheProfiles() throws {
        let (status, out, err) = try Tokentrail.run(["check-config", "--skip-kafka-check", "--profile", "elastic-2027"])
        #expect(status == 2, "\(err)")
        #expect(err.contains("rule.profile") && err.contains("elastic-2027") && err.contains("seed, elastic-2026"), "\(err)")
        #expect(out.isEmpty)
    }

    @Test func elasticWithoutDatabasesOrWithUnreadableOnesExitsTwo() throws {
        let (status, _, err) = try Tokentrail.run(["check-config", "--skip-kafka-check", "--profile", "elastic-2026"])
        #expect(status == 2)
        #expect(err.contains("enrichment.asn_database") && err.contains("no window can alert"), "\(err)")
        let (missing, _, missingErr) = try Tokentrail.run([
            "check-config", "--skip-kafka-check", "--profile", "elastic-2026",
            "--geoip-city", "/nonexistent/city.mmdb", "--geoip-asn", "/nonexistent/asn.mmdb",
        ])
        #expect(missing == 2)
        #expect(missingErr.contains("/nonexistent/") && missingErr.contains("cannot be opened"), "\(missingErr)")
        #expect(missingErr.contains("flag --geoip-"), "\(missingErr)")
    }

    @Test func runRejectsBadConfigurationBeforeConnecting() throws {
        let (status, _, err) = try Tokentrail.run(["run", "--bootstrap-servers", "127.0.0.1:1"], environment: ["TOKENTRAIL_TIME__IDLE_TIMEOUT": "soon"])
        #expect(status == 2)
        #expect(err.contains("time.idle_timeout") && err.contains("TOKENTRAIL_TIME__IDLE_TIMEOUT"))
    }
}

@Suite(.ownThreads, .enabled(if: TestBroker.isEnabled), .timeLimit(.minutes(6)))
struct RunEndpointsEndToEndTests {
    /// `tokentrail run --config`: /healthz at once, /readyz 503 then 200 once partitions are
    /// assigned, /metrics with commits and owned partitions; JSON logs without the secret; exit 0 on SIGTERM.
    @Test func readinessAndMetricsOverHTTP() throws {
        let bootstrap = try TestBroker.require()
        let input = TestBroker.unique("ct"), group = TestBroker.unique("tt-ops")
        try TestBroker.createTopic(bootstrap, input, partitions: 2)
        // Three events on partition 0 (partition 1 stays empty): the progress gauges have something to show.
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(common: KafkaConfiguration(bootstrapServers: bootstrap)), logger: TestBroker.logger)
        for i in 0..<3 {
            let event = #"{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/app/s","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE"},"eventTime":"2026-03-02T07:0\#(i):00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.\#(i + 1)","userAgent":"aws-cli/2.15.0","eventID":"e\#(i)","recipientAccountId":"111122223333"}"#
            try producer.send(topic: input, partition: 0, key: nil, value: Array(event.utf8))
        }
        try producer.close(timeout: .seconds(30))
        let port = try freePort()
        let path = try writeTemporary("""
            kafka:
              bootstrap.servers: \(bootstrap)
              ssl.key.password: e2e-secret-value
              statistics.interval.ms: 500
            group_id: \(group)
            commit_interval: 500ms
            session_timeout: 6s
            topics:
              input: [\(input)]
              output: \(group).alerts
              dead_letter: \(group).dlq
            metrics:
              port: \(port)
            logging:
              format: json
            """)
        let tt = try Tokentrail(["run", "--config", path])
        let deadline = ContinuousClock.now + .seconds(90)
        var health = 0
        while health != 200, ContinuousClock.now < deadline, tt.process.isRunning {
            health = (try? httpGet(port, "/healthz").status) ?? 0
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(health == 200, "\(tt.stderr.suffix(3000))")
        var ready = (status: 0, body: "")
        while ready.status != 200, ContinuousClock.now < deadline, tt.process.isRunning {
            ready = (try? httpGet(port, "/readyz")) ?? (0, "")
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(ready.status == 200, "\(ready.body) \(tt.stderr.suffix(3000))")
        let metrics = try httpGet(port, "/metrics").body
        let commits = metrics.split(separator: "\n").first { $0.hasPrefix("tokentrail_commits_total ") }
        #expect(commits.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 >= 1 } == true, "\(metrics)")
        #expect(metrics.contains("tokentrail_owned_partitions"))
        #expect(metrics.contains("tokentrail_ready 1"))
        // Progress per partition: the input partition with events is read to its end (lag 0) and has
        // a watermark; the repartition topic's detect side holds the window the three addresses opened.
        var progress = metrics
        let lagSeries = "tokentrail_partition_lag_records{topic=\"\(input)\",partition=\"0\"} 0"
        while !(progress.contains(lagSeries) && progress.contains("tokentrail_windows 1")), ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.3)
            progress = try httpGet(port, "/metrics").body
        }
        #expect(progress.contains(lagSeries), "\(progress.suffix(3000))")
        #expect(progress.contains("tokentrail_partition_watermark_lag_seconds{topic=\"\(input)\",partition=\"0\"}"))
        #expect(progress.contains("tokentrail_windows 1"), "one principal, one window")
        #expect(progress.contains("tokentrail_expanded_windows 1"), "three addresses: past its first event")
        #expect(progress.contains("tokentrail_commit_duration_seconds_count"))
        // The window's open alert (its second address, through the repartition topic): one latency, from
        // its trigger's consumption to the broker's acknowledgement, on this machine's clock. Event time
        // (March 2026) or a lost batch timestamp would make it months or nothing.
        var latency = progress
        while !latency.contains("tokentrail_open_alert_latency_seconds_count 1"), ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.3)
            latency = try httpGet(port, "/metrics").body
        }
        #expect(latency.contains("tokentrail_open_alert_latency_seconds_count 1"), "\(latency.suffix(3000))")
        let latencySum = latency.split(separator: "\n").first { $0.hasPrefix("tokentrail_open_alert_latency_seconds_sum ") }
            .flatMap { Double($0.split(separator: " ").last ?? "") }
        #expect(latencySum.map { $0 >= 0 && $0 < 30 } == true, "\(String(describing: latencySum))")
        // librdkafka's statistics reach /metrics through the pipeline's statistics hook. A partition's
        // fetch queue is in them only once it is assigned: scrape again until both kinds are there
        // (an earlier scrape can hold the broker figures without the partition's).
        var withStatistics = progress
        let statsDeadline = ContinuousClock.now + .seconds(15)
        while !(withStatistics.contains("tokentrail_kafka_broker_rtt_seconds")
                && withStatistics.contains("tokentrail_kafka_fetch_queue_messages")),
              ContinuousClock.now < statsDeadline {
            Thread.sleep(forTimeInterval: 0.3)
            withStatistics = try httpGet(port, "/metrics").body
        }
        #expect(withStatistics.contains("tokentrail_kafka_broker_rtt_seconds"), "\(withStatistics.suffix(2000))")
        #expect(withStatistics.contains("tokentrail_kafka_fetch_queue_messages"))

        kill(tt.process.processIdentifier, SIGTERM)
        #expect(tt.wait(timeout: .seconds(30)) == 0, "\(tt.stderr.suffix(3000))")
        let log = tt.stderr
        #expect(!log.contains("e2e-secret-value"))
        #expect(log.contains("****"))
        for line in log.split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "not JSON: \(line)")
        }
        // Once, when both input partitions (one of them empty) were read to their end: the three records.
        let caughtUp = log.split(separator: "\n").filter { $0.contains("\"caught up with the input\"") }
        #expect(caughtUp.count == 1, "\(log.suffix(3000))")
        #expect(caughtUp.first?.contains("\"records\":\"3\"") == true, "\(caughtUp)")
    }
}

@Suite(.ownThreads, .enabled(if: TestBroker.isEnabled), .timeLimit(.minutes(6)))
struct StandbyReadinessTests {
    /// More members than partitions (keyed input, one partition, two processes): both report ready, one
    /// of them as a standby that owns nothing (a rollout waits for readiness, and would hang on it).
    @Test func aStandbyMemberWithNoPartitionsIsReady() throws {
        let bootstrap = try TestBroker.require()
        let input = TestBroker.unique("ct"), group = TestBroker.unique("tt-standby")
        try TestBroker.createTopic(bootstrap, input, partitions: 1)
        let ports = [try freePort(), try freePort()]
        let members = try ports.map { port in
            try Tokentrail(["run", "--bootstrap-servers", bootstrap, "--input-topic", input, "--input-keyed",
                            "--output-topic", "\(group).alerts", "--dead-letter-topic", "\(group).dlq", "--group-id", group,
                            "--session-timeout-ms", "6000", "--commit-interval-ms", "500", "--metrics-port", String(port)])
        }
        let deadline = ContinuousClock.now + .seconds(90)
        var answers = [(status: 0, body: ""), (status: 0, body: "")]
        while answers.contains(where: { $0.status != 200 }) || !answers.contains(where: { $0.body.hasPrefix("standby") }),
              ContinuousClock.now < deadline, members.allSatisfy(\.process.isRunning) {
            answers = ports.map { (try? httpGet($0, "/readyz")) ?? (0, "") }
            Thread.sleep(forTimeInterval: 0.3)
        }
        #expect(answers.allSatisfy { $0.status == 200 }, "\(answers)\n\(members.map { $0.stderr.suffix(1500) })")
        #expect(answers.filter { $0.body.hasPrefix("standby") }.count == 1, "\(answers)")
        #expect(answers.filter { $0.body.hasPrefix("consuming 1 partition") }.count == 1, "\(answers)")
        for m in members { kill(m.process.processIdentifier, SIGTERM) }
        for m in members { #expect(m.wait(timeout: .seconds(30)) == 0) }
    }
}

@Suite(.ownThreads, .enabled(if: TestBroker.isEnabled), .timeLimit(.minutes(6)))
struct RejectedCredentialsTests {
    /// The broker refuses the SASL handshake: the process stops with an error that says
    /// authentication failed, and the password appears nowhere in its output.
    @Test func authenticationFailureIsClearAndSecretFree() throws {
        let bootstrap = try TestBroker.require()
        let secret = "wrong-secret-\(UInt32.random(in: 0...UInt32.max))"
        let tt = try Tokentrail(["run", "--log-format", "json", "--bootstrap-servers", bootstrap, "--metrics-port", "0",
                                 "--kafka", "security.protocol=SASL_PLAINTEXT", "--kafka", "sasl.mechanism=PLAIN",
                                 "--kafka", "sasl.username=tokentrail"],
                                environment: ["TOKENTRAIL_KAFKA__SASL_PASSWORD": secret])
        let status = tt.wait(timeout: .seconds(90))
        let output = tt.stdout + tt.stderr
        #expect(status == 1, "\(output.suffix(2000))")
        #expect(output.contains("_AUTHENTICATION") || output.contains("SASL"), "\(output.suffix(2000))")
        #expect(!output.contains(secret))
        #expect(output.contains("sasl.password=****"))
    }
}

func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok else { throw HTTPGetError.socket }
    return Int(UInt16(bigEndian: addr.sin_port))
}
