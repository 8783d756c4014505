import Detection
import Enrichment
import Foundation
import KafkaClient
import Logging
import Pipeline
import Testing
import TokentrailCore

private func text(_ m: PipelineMetrics) -> String { String(decoding: m.render(), as: UTF8.self) }

/// The value of one sample line (`name{labels} value`), nil when the series is absent.
private func sample(_ text: String, _ series: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}

@Suite struct MetricsTests {
    @Test func countersStartAtZeroAndFollowTheRunningTotals() {
        let m = PipelineMetrics(version: "1.2.3", librdkafka: "2.6.1")
        let before = text(m)
        #expect(sample(before, "tokentrail_records_consumed_total") == 0)
        #expect(sample(before, "tokentrail_ready") == 0)
        #expect(before.contains("tokentrail_build_info{version=\"1.2.3\",librdkafka=\"2.6.1\"} 1")
                || before.contains("tokentrail_build_info{librdkafka=\"2.6.1\",version=\"1.2.3\"} 1"))

        var c = PipelineCounters()
        c.recordsConsumed = 10
        c.eventsDecoded = 9
        c.alertsProduced = ["open": 2]
        c.deadLettered = ["not_json": 1]
        c.eventsRejected = ["not_temporary_key": 4]
        c.commits = 1
        m.publish(c, ownedPartitions: [KafkaTopicPartition("cloudtrail", 0), KafkaTopicPartition("cloudtrail", 1)],
                  at: Date(timeIntervalSince1970: 1_700_000_000))
        c.recordsConsumed = 25
        c.alertsProduced = ["open": 3, "final": 1]
        c.commits = 2
        m.publish(c, ownedPartitions: [KafkaTopicPartition("cloudtrail", 0)], at: Date(timeIntervalSince1970: 1_700_000_002))

        let after = text(m)
        #expect(sample(after, "tokentrail_records_consumed_total") == 25)
        #expect(sample(after, "tokentrail_events_decoded_total") == 9)
        #expect(sample(after, "tokentrail_commits_total") == 2)
        #expect(sample(after, "tokentrail_alerts_total{status=\"open\"}") == 3)
        #expect(sample(after, "tokentrail_alerts_total{status=\"final\"}") == 1)
        #expect(sample(after, "tokentrail_dead_lettered_total{reason=\"not_json\"}") == 1)
        #expect(sample(after, "tokentrail_events_rejected_total{reason=\"not_temporary_key\"}") == 4)
        #expect(sample(after, "tokentrail_owned_partitions") == 1)
        #expect(sample(after, "tokentrail_last_commit_timestamp_seconds") == 1_700_000_002)
        #expect(after.contains("# TYPE tokentrail_records_consumed_total counter"))
        #expect(after.contains("# TYPE tokentrail_owned_partitions gauge"))
        #expect(!after.contains("tokentrail_geoip"), "no GeoIP series without databases")
    }

    @Test func geoIPCountersFollowTheEnrichersTotals() {
        let m = PipelineMetrics(version: "1.2.3", librdkafka: "2.6.1")
        var s = GeoIPEnricher.Statistics()
        m.publish(geoIP: s)
        #expect(sample(text(m), "tokentrail_geoip_reload_failures_total") == 0)
        s.lookups = 100
        s.cacheHits = 90
        s.reloadFailures = 1
        m.publish(geoIP: s)
        s.lookups = 150
        m.publish(geoIP: s)
        let t = text(m)
        #expect(sample(t, "tokentrail_geoip_lookups_total") == 150)
        #expect(sample(t, "tokentrail_geoip_cache_hits_total") == 90)
        #expect(sample(t, "tokentrail_geoip_reloads_total") == 0)
        #expect(sample(t, "tokentrail_geoip_reload_failures_total") == 1)
    }

    @Test func partitionProgressStateAndCommitDurationAfterACommit() {
        let m = PipelineMetrics(version: "1.2.3", librdkafka: "2.8.0")
        #expect(sample(text(m), "tokentrail_windows") == 0)
        let p0 = KafkaTopicPartition("cloudtrail", 0), p1 = KafkaTopicPartition("cloudtrail", 1)
        var detector = DetectorSummary()
        detector.windows = 1_000
        detector.expandedWindows = 3
        detector.estimatedBytes = 400_000
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        m.publish(PipelineSnapshot(
            counters: PipelineCounters(), owned: [p0, p1],
            partitions: [
                PartitionProgress(partition: p0, watermark: 1_700_000_000_000 - 90_000, lag: 1_234),
                PartitionProgress(partition: p1, watermark: nil, lag: nil),
            ],
            detector: detector, commitDuration: .milliseconds(250)), at: now)
        let first = text(m)
        #expect(sample(first, "tokentrail_windows") == 1_000)
        #expect(sample(first, "tokentrail_expanded_windows") == 3)
        #expect(sample(first, "tokentrail_state_bytes_estimate") == 400_000)
        #expect(sample(first, "tokentrail_partition_watermark_lag_seconds{topic=\"cloudtrail\",partition=\"0\"}") == 90)
        #expect(sample(first, "tokentrail_partition_lag_records{topic=\"cloudtrail\",partition=\"0\"}") == 1_234)
        #expect(!first.contains("partition=\"1\""), "unknown values are left out, not reported as 0")
        #expect(sample(first, "tokentrail_commit_duration_seconds_count") == 1)
        #expect(sample(first, "tokentrail_commit_duration_seconds_sum") == 0.25)

        // Partition 0 revoked: its series go away rather than freeze at the last value.
        m.publish(PipelineSnapshot(
            counters: PipelineCounters(), owned: [p1], partitions: [PartitionProgress(partition: p1, watermark: 1_700_000_000_000, lag: 0)],
            detector: DetectorSummary(), commitDuration: .milliseconds(10)), at: now)
        let second = text(m)
        #expect(!second.contains("partition=\"0\""))
        #expect(sample(second, "tokentrail_partition_lag_records{topic=\"cloudtrail\",partition=\"1\"}") == 0)
        #expect(sample(second, "tokentrail_windows") == 0)
        #expect(sample(second, "tokentrail_commit_duration_seconds_count") == 2)
    }

    /// Each snapshot's open-alert latencies are observed once, in buckets fine enough around the half
    /// second that "p99 under 500 ms" is read off one bucket.
    @Test func openAlertLatenciesFillTheirHistogramOnce() {
        let m = PipelineMetrics(version: "1.2.3", librdkafka: "2.8.0")
        #expect(sample(text(m), "tokentrail_open_alert_latency_seconds_count") == 0, "the series exists before any alert")
        let latencies: [Duration] = [.milliseconds(30), .milliseconds(450), .milliseconds(700)]
        m.publish(PipelineSnapshot(counters: PipelineCounters(), owned: [], partitions: [], detector: DetectorSummary(),
                                   commitDuration: .milliseconds(5), openAlertLatencies: latencies))
        m.publish(PipelineSnapshot(counters: PipelineCounters(), owned: [], partitions: [], detector: DetectorSummary(),
                                   commitDuration: .milliseconds(5), openAlertLatencies: [.seconds(2)]))
        let t = text(m)
        let series = "tokentrail_open_alert_latency_seconds"
        #expect(sample(t, "\(series)_count") == 4)
        #expect(abs((sample(t, "\(series)_sum") ?? 0) - 3.18) < 1e-9)
        #expect(sample(t, "\(series)_bucket{le=\"0.025\"}") == 0)
        #expect(sample(t, "\(series)_bucket{le=\"0.05\"}") == 1)
        #expect(sample(t, "\(series)_bucket{le=\"0.4\"}") == 1)
        #expect(sample(t, "\(series)_bucket{le=\"0.5\"}") == 2)
        #expect(sample(t, "\(series)_bucket{le=\"0.75\"}") == 3)
        #expect(sample(t, "\(series)_bucket{le=\"2.0\"}") == 4)
    }
}

/// `threads` > 1: one process's pipelines publish as one.
@Suite struct PipelineSnapshotsTests {
    private func snapshot(decoded: Int, rejected: Int, owned: [KafkaTopicPartition], windows: Int) -> PipelineSnapshot {
        var counters = PipelineCounters()
        counters.eventsDecoded = decoded
        counters.eventsRejected = ["not_session_key": rejected]
        counters.commits = 1
        var detector = DetectorSummary()
        detector.windows = windows
        detector.estimatedBytes = windows * 332
        return PipelineSnapshot(counters: counters, owned: owned,
                                partitions: owned.map { PartitionProgress(partition: $0, watermark: nil, lag: 0) },
                                detector: detector, commitDuration: .milliseconds(5))
    }

    @Test func totalsAreSummedAndReadinessWaitsForEveryPipeline() {
        let snapshots = PipelineSnapshots(pipelines: 2)
        let m = PipelineMetrics(version: "1.2.3", librdkafka: "2.8.0")
        let r = Readiness(staleAfter: .seconds(10))
        r.pipelineStarted()
        let publish: (PipelineSnapshot, ContinuousClock.Instant?) -> Void = { combined, oldest in
            m.publish(combined)
            if let oldest { r.committed(ownedPartitions: combined.owned, at: oldest) }
        }
        let t0 = ContinuousClock.now
        let p0 = KafkaTopicPartition("cloudtrail", 0), p1 = KafkaTopicPartition("cloudtrail", 1), p2 = KafkaTopicPartition("cloudtrail", 2)
        snapshots.record(snapshot(decoded: 100, rejected: 7, owned: [p0, p1], windows: 10), from: 0, at: t0, publish: publish)
        #expect(sample(text(m), "tokentrail_events_decoded_total") == 100)
        #expect(r.status(at: t0).reason.contains("first commit"), "pipeline 1 has not committed yet")

        snapshots.record(snapshot(decoded: 50, rejected: 1, owned: [p2], windows: 5), from: 1, at: t0 + .seconds(4), publish: publish)
        var t = text(m)
        #expect(sample(t, "tokentrail_events_decoded_total") == 150)
        #expect(sample(t, "tokentrail_events_rejected_total{reason=\"not_session_key\"}") == 8)
        #expect(sample(t, "tokentrail_owned_partitions") == 3)
        #expect(sample(t, "tokentrail_windows") == 15)
        #expect(sample(t, "tokentrail_partition_lag_records{topic=\"cloudtrail\",partition=\"2\"}") == 0)
        // Ready, but as of pipeline 0's commit, the older one: it goes stale first.
        #expect(r.status(at: t0 + .seconds(9)).ready)
        #expect(!r.status(at: t0 + .seconds(11)).ready)

        // Pipeline 0 commits again with higher totals: counters add only the difference, never twice.
        snapshots.record(snapshot(decoded: 130, rejected: 7, owned: [p0, p1], windows: 12), from: 0, at: t0 + .seconds(8), publish: publish)
        t = text(m)
        #expect(sample(t, "tokentrail_events_decoded_total") == 180)
        #expect(sample(t, "tokentrail_commits_total") == 2)
        #expect(r.status(at: t0 + .seconds(13)).ready, "oldest commit is now pipeline 1's, at 4 s")
    }

    /// A snapshot's latencies are those since its pipeline's last commit: the combination carries the
    /// recording pipeline's only, so another pipeline's earlier ones are not counted again.
    @Test func openAlertLatenciesAreCountedOncePerPipelineCommit() {
        let snapshots = PipelineSnapshots(pipelines: 2)
        let m = PipelineMetrics(version: "1.2.3", librdkafka: "2.8.0")
        let publish: (PipelineSnapshot, ContinuousClock.Instant?) -> Void = { combined, _ in m.publish(combined) }
        var s0 = snapshot(decoded: 1, rejected: 0, owned: [], windows: 0)
        s0.openAlertLatencies = [.milliseconds(20), .milliseconds(40)]
        var s1 = snapshot(decoded: 1, rejected: 0, owned: [], windows: 0)
        s1.openAlertLatencies = [.milliseconds(60)]
        snapshots.record(s0, from: 0, publish: publish)
        snapshots.record(s1, from: 1, publish: publish)
        s0.openAlertLatencies = []
        snapshots.record(s0, from: 0, publish: publish)
        #expect(sample(text(m), "tokentrail_open_alert_latency_seconds_count") == 3)
    }
}

@Suite struct ReadinessTests {
    @Test func readyOnceInTheGroupAndCommittingAlsoAsAStandby() {
        let r = Readiness(staleAfter: .seconds(10))
        let t0 = ContinuousClock.now
        #expect(!r.status(at: t0).ready)
        r.pipelineStarted()
        #expect(r.status(at: t0).reason.contains("first commit"))
        // Commits happen before the group's first assignment: not ready yet.
        r.committed(ownedPartitions: [], joined: false, at: t0)
        #expect(!r.status(at: t0).ready && r.status(at: t0).reason == "joining the consumer group")
        // In the group with nothing assigned (more members than partitions): a ready standby.
        r.committed(ownedPartitions: [], joined: true, at: t0)
        #expect(r.status(at: t0).ready && r.status(at: t0).reason.hasPrefix("standby"))
        #expect(!r.status(at: t0 + .seconds(11)).ready, "a standby that stops committing turns unready")
        r.committed(ownedPartitions: [KafkaTopicPartition("cloudtrail", 0)], at: t0)
        #expect(r.status(at: t0 + .seconds(5)).ready)
        #expect(!r.status(at: t0 + .seconds(11)).ready)
        r.stopping()
        #expect(r.status(at: t0).reason == "stopping")
    }
}

@Suite struct AlertingRulesTests {
    /// Every metric the Prometheus rules (deploy/prometheus) and the Grafana dashboard (deploy/grafana)
    /// name is one `/metrics` exports: a rule on a renamed or misspelt metric would never fire.
    @Test func everyMetricTheRulesAndTheDashboardNameIsExported() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let rules = try String(contentsOf: root.appendingPathComponent("deploy/prometheus/tokentrail.rules.yml"), encoding: .utf8)
        let dashboard = try String(contentsOf: root.appendingPathComponent("deploy/grafana/tokentrail.json"), encoding: .utf8)
        // A histogram's series carry suffixes its family name does not.
        func names(_ text: String) -> Set<String> {
            Set(text.matches(of: /tokentrail_[a-z_]+/).map { m -> String in
                var name = String(m.output)
                for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
                return name
            })
        }
        let fromRules = names(rules), fromDashboard = names(dashboard)
        #expect(fromRules.count >= 8 && fromDashboard.count >= 12, "\(fromRules) \(fromDashboard)")
        let named = fromRules.union(fromDashboard)
        // Every series present: each counter moved, each labelled family with a label, a partition's progress.
        let metrics = PipelineMetrics(version: "t", librdkafka: "t")
        var c = PipelineCounters()
        c.recordsConsumed = 1; c.eventsDecoded = 1; c.eventsPrefiltered = 1; c.eventsRejected = ["x": 1]
        c.observationsRouted = 1; c.observationsProcessed = 1; c.eventsLate = 1; c.windowsRefused = 1
        c.deadLettered = ["x": 1]; c.watermarksRefused = ["x": 1]; c.alertsProduced = ["open": 1]
        c.markersSent = 1; c.commits = 1; c.transactionsAborted = 1; c.rebalances = 1
        let tp = KafkaTopicPartition("cloudtrail", 0)
        metrics.publish(PipelineSnapshot(counters: c, owned: [tp], partitions: [PartitionProgress(partition: tp, watermark: 1, lag: 1)],
                                         detector: DetectorSummary(), commitDuration: .milliseconds(1)))
        metrics.setReady(true)
        let exceptions = FileManager.default.temporaryDirectory.appendingPathComponent("tt-rules-\(UInt32.random(in: 0...UInt32.max)).yaml").path
        try "- name: x\n  match: {cidr: 10.0.0.0/8}\n  comment: c\n  owner: o\n".write(toFile: exceptions, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: exceptions) }
        metrics.publish(exceptions: try ExceptionsFile(path: exceptions, asnAvailable: false, logger: Logger(label: "t")))
        let text = String(decoding: metrics.render(), as: UTF8.self)
        let exported = Set(text.split(separator: "\n").filter { $0.hasPrefix("# TYPE tokentrail_") }.map { String($0.split(separator: " ")[2]) })
        #expect(named.subtracting(exported).isEmpty, "named by the rules or the dashboard, not exported: \(named.subtracting(exported).sorted())")
    }
}

@Suite struct LivenessTests {
    @Test func failsOnlyWhenAPipelineThatHasStartedStopsMakingProgress() {
        let l = Liveness(pipelines: 2, timeout: .seconds(60))
        let t0 = ContinuousClock.now
        #expect(l.status(at: t0 + .seconds(600)).alive, "before the first turn: connecting, not judged")
        l.beat(0, at: t0)
        l.beat(1, at: t0 + .seconds(50))
        #expect(l.status(at: t0 + .seconds(59)).alive)
        let wedged = l.status(at: t0 + .seconds(61))
        #expect(!wedged.alive && wedged.reason.hasPrefix("pipeline 0 made no progress for 61s"), "\(wedged.reason)")
        l.beat(0, at: t0 + .seconds(61))
        #expect(l.status(at: t0 + .seconds(62)).alive)
        l.stop()
        #expect(l.status(at: t0 + .seconds(1_000)).alive, "shutting down: the shutdown bound takes over")
    }
}

@Suite struct OpsServerTests {
    /// A real HTTP round trip over loopback: what Prometheus and a kubelet do.
    @Test func servesMetricsHealthAndReadiness() throws {
        let metrics = PipelineMetrics(version: "t", librdkafka: "t")
        let readiness = Readiness(staleAfter: .seconds(60))
        let liveness = Liveness(pipelines: 1, timeout: .seconds(10))
        let server = try OpsServer(host: "127.0.0.1", port: 0, routes: OpsRoutes(metrics: metrics, readiness: readiness, liveness: liveness),
                                   logger: quietLogger)
        defer { server.stop() }
        #expect(try httpGet(server.port, "/healthz").status == 200)
        // A pipeline thread whose last progress is older than the bound: liveness fails, with the reason.
        liveness.beat(0, at: .now - .seconds(11))
        let wedged = try httpGet(server.port, "/healthz")
        #expect(wedged.status == 503 && wedged.body.contains("pipeline 0 made no progress"), "\(wedged)")
        liveness.beat(0)
        #expect(try httpGet(server.port, "/healthz").status == 200)
        let notReady = try httpGet(server.port, "/readyz")
        #expect(notReady.status == 503 && notReady.body.contains("starting"))
        readiness.pipelineStarted()
        var c = PipelineCounters()
        c.recordsConsumed = 7
        metrics.publish(c, ownedPartitions: [KafkaTopicPartition("cloudtrail", 0)])
        readiness.committed(ownedPartitions: [KafkaTopicPartition("cloudtrail", 0)])
        #expect(try httpGet(server.port, "/readyz").status == 200)
        let m = try httpGet(server.port, "/metrics")
        #expect(m.status == 200)
        #expect(m.body.contains("tokentrail_records_consumed_total 7"))
        #expect(m.body.contains("tokentrail_ready 1"))
        #expect(try httpGet(server.port, "/nope").status == 404)
    }
}

@Suite struct KafkaPropertyCheckTests {
    /// librdkafka itself rejects the property; the error names it and the value of a secret never shows.
    @Test func librdkafkaRejectionNamesTheProperty() throws {
        var s = TokentrailSettings()
        s.kafka["security.protocol"] = "CARRIER_PIGEON"
        let problem = try #require(KafkaPropertyCheck.check(s, logger: quietLogger))
        #expect(problem.path == "kafka.security.protocol")
        #expect(problem.description.contains("CARRIER_PIGEON") || problem.description.contains("security.protocol"))
    }

    @Test func unknownPropertyIsRejected() throws {
        var s = TokentrailSettings()
        s.kafka["sasl.pasword"] = "hunter2-very-secret"
        let problem = try #require(KafkaPropertyCheck.check(s, logger: quietLogger))
        #expect(problem.path == "kafka.sasl.pasword")
        #expect(!problem.description.contains("hunter2-very-secret"))
    }

    @Test func validPropertiesPass() {
        var s = TokentrailSettings()
        s.kafka["security.protocol"] = "SASL_PLAINTEXT"
        s.kafka["sasl.mechanism"] = "PLAIN"
        s.kafka["sasl.username"] = "u"
        s.kafka["sasl.password"] = "p"
        #expect(KafkaPropertyCheck.check(s, logger: quietLogger) == nil)
    }

    @Test func secretsAreScrubbedFromLibrdkafkaMessages() throws {
        let redactor = SecretRedactor(secrets: ["topsecretvalue"])
        let e = KafkaError(code: .invalidConfiguration, message: "librdkafka rejected property 'ssl.key.password': bad value topsecretvalue")
        let p = try #require(KafkaPropertyCheck.problem(for: e, redactor: redactor))
        #expect(p.path == "kafka.ssl.key.password")
        #expect(!p.description.contains("topsecretvalue"))
    }
}

/// HTTP/1.0 GET over a plain socket: no HTTP client library needed.
func httpGet(_ port: Int, _ path: String) throws -> (status: Int, body: String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HTTPGetError.socket }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw HTTPGetError.connect }
    let request = Array("GET \(path) HTTP/1.0\r\nHost: localhost\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += buffer[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
    let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
    return (status, body)
}

enum HTTPGetError: Error { case socket, connect }

/// librdkafka's "connection refused" chatter is expected where no broker runs: keep it out of test output.
let quietLogger: Logger = {
    var l = Logger(label: "test")
    l.logLevel = .critical
    return l
}()

@Suite struct LibrdkafkaStatisticsTests {
    /// A trimmed statistics document as librdkafka emits it (STATISTICS.md field names).
    func document(lag: Int, partitions: [Int] = [0, 1]) -> String {
        let parts = (partitions + [-1]).map { p in
            "\"\(p)\": {\"partition\": \(p), \"consumer_lag\": \(p < 0 ? -1 : lag + p), \"fetchq_cnt\": 3}"
        }.joined(separator: ",")
        return """
            {"name": "tokentrail#consumer-1", "type": "consumer", "replyq": 0, "msg_cnt": 7,
             "brokers": {
               "127.0.0.1:9092/1": {"nodeid": 1, "nodename": "127.0.0.1:9092", "outbuf_cnt": 2, "waitresp_cnt": 1,
                                    "rtt": {"min": 100, "max": 9000, "avg": 2500}},
               ":0/internal": {"nodeid": -1, "nodename": "", "outbuf_cnt": 0, "waitresp_cnt": 0, "rtt": {"avg": 0}}
             },
             "topics": {"cloudtrail": {"topic": "cloudtrail", "partitions": {\(parts)}}}}
            """
    }

    @Test func brokerRTTQueuesAndConsumerLag() {
        let metrics = PipelineMetrics(version: "t", librdkafka: "t")
        let stats = LibrdkafkaStatistics(metrics: metrics)
        stats.publish(json: document(lag: 40))
        var text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains("tokentrail_kafka_broker_rtt_seconds{client=\"consumer\",broker=\"127.0.0.1:9092\"} 0.0025"))
        #expect(text.contains("tokentrail_kafka_broker_outbuf_requests{client=\"consumer\",broker=\"127.0.0.1:9092\"} 2"))
        #expect(text.contains("tokentrail_kafka_consumer_lag_records{topic=\"cloudtrail\",partition=\"1\"} 41"))
        #expect(text.contains("tokentrail_kafka_client_queue_messages{client=\"consumer\"} 7"))
        #expect(!text.contains("partition=\"-1\""))
        #expect(!text.contains("broker=\"\""))
        // Partition 1 moved to another member: its series goes away instead of freezing.
        stats.publish(json: document(lag: 5, partitions: [0]))
        text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains("tokentrail_kafka_consumer_lag_records{topic=\"cloudtrail\",partition=\"0\"} 5"))
        #expect(!text.contains("tokentrail_kafka_consumer_lag_records{topic=\"cloudtrail\",partition=\"1\"}"))
    }

    @Test func garbageIsIgnored() {
        let metrics = PipelineMetrics(version: "t", librdkafka: "t")
        LibrdkafkaStatistics(metrics: metrics).publish(json: "not json {")
        #expect(!String(decoding: metrics.render(), as: UTF8.self).contains("tokentrail_kafka_"))
    }
}
