import Foundation
import KafkaClient
import KafkaTestSupport
import Testing

/// `/healthz` of the built binary against a private tansu that the test freezes (SIGSTOP).
/// `metrics.liveness_timeout` is 10 s (its smallest allowed value).
@Suite(.ownThreads, .enabled(if: TestBroker.isEnabled), .timeLimit(.minutes(6)))
struct LivenessEndToEndTests {
    static let bound: Duration = .seconds(10)

    /// A running process against a private broker: events consumed, Ready, /healthz 200 throughout
    /// a stretch longer than the liveness bound.
    private func runningProcess(_ broker: PrivateBroker, guarantee: String) throws -> (Tokentrail, port: Int) {
        let input = TestBroker.unique("ct"), group = TestBroker.unique("tt-live")
        try TestBroker.createTopic(broker.bootstrap, input, partitions: 2)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(common: KafkaConfiguration(bootstrapServers: broker.bootstrap)),
                                         logger: TestBroker.logger)
        for i in 0..<4 {
            let event = #"{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/app/s","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE"},"eventTime":"2026-03-02T07:0\#(i):00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.\#(i + 1)","userAgent":"aws-cli/2.15.0","eventID":"e\#(i)","recipientAccountId":"111122223333"}"#
            try producer.send(topic: input, partition: Int32(i % 2), key: nil, value: Array(event.utf8))
        }
        try producer.close(timeout: .seconds(30))
        let port = try freePort()
        let path = try writeTemporary("""
            kafka:
              bootstrap.servers: \(broker.bootstrap)
            group_id: \(group)
            instance_id: \(group)
            processing_guarantee: \(guarantee)
            commit_interval: 500ms
            session_timeout: 6s
            topics:
              input: [\(input)]
              output: \(group).alerts
              dead_letter: \(group).dlq
            metrics:
              port: \(port)
              liveness_timeout: 10s
            """)
        let tt = try Tokentrail(["run", "--config", path])
        let deadline = ContinuousClock.now + .seconds(90)
        var ready = 0
        while ready != 200 || !tt.stderr.contains("caught up with the input"), ContinuousClock.now < deadline, tt.process.isRunning {
            ready = (try? httpGet(port, "/readyz").status) ?? 0
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(ready == 200 && tt.stderr.contains("caught up with the input"), "\(tt.stderr.suffix(3000))")
        // Idle but polling, and committing every 500 ms: alive for longer than the bound.
        let steady = ContinuousClock.now + Self.bound + .seconds(2)
        while ContinuousClock.now < steady {
            let health = try httpGet(port, "/healthz")
            #expect(health.status == 200, "\(health.body)\n\(tt.stderr.suffix(2000))")
            if health.status != 200 { break }
            Thread.sleep(forTimeInterval: 0.25)
        }
        return (tt, port)
    }

    /// An exactly-once commit blocks the pipeline thread in transactional broker calls (up to 30 s per
    /// attempt, no progress meanwhile): with the broker frozen the thread makes no progress, and
    /// /healthz answers 503 once the bound has passed, not before; when the broker is back the call
    /// returns and /healthz answers 200 again.
    @Test func aPipelineThreadStuckInABrokerCallFailsLivenessWithinTheBound() throws {
        _ = try TestBroker.require()
        let broker = try PrivateBroker()
        let (tt, port) = try runningProcess(broker, guarantee: "exactly_once")
        broker.pause()
        let frozen = ContinuousClock.now
        var health = (status: 200, body: "")
        // The next commit starts within commit_interval of the freeze; its call then blocks.
        let limit = frozen + .milliseconds(500) + Self.bound + .seconds(5)
        while health.status == 200, ContinuousClock.now < limit {
            Thread.sleep(forTimeInterval: 0.2)
            health = (try? httpGet(port, "/healthz")) ?? (0, "no answer")
        }
        let failedAfter = ContinuousClock.now - frozen
        #expect(health.status == 503, "\(health.body) after \(failedAfter)\n\(tt.stderr.suffix(2000))")
        #expect(failedAfter >= Self.bound - .milliseconds(500), "503 after \(failedAfter), before the bound had passed")
        #expect(health.body.contains("pipeline 0 made no progress") && health.body.contains("(bound 10s)"), "\(health.body)")
        #expect(tt.process.isRunning)
        broker.resume()
        let back = ContinuousClock.now + .seconds(60)
        while health.status != 200, ContinuousClock.now < back {
            Thread.sleep(forTimeInterval: 0.2)
            health = (try? httpGet(port, "/healthz")) ?? (0, "no answer")
        }
        #expect(health.status == 200, "the thread made progress again once the broker was back: \(health.body)\n\(tt.stderr.suffix(2000))")
        kill(tt.process.processIdentifier, SIGTERM)
        _ = tt.wait(timeout: .seconds(35))
    }

    /// At-least-once nothing on the pipeline thread waits for the broker: frozen for longer than the
    /// bound, the process keeps polling and stays live (a restart would not bring the broker back).
    @Test func aBrokerThatIsAwayDoesNotFailLiveness() throws {
        _ = try TestBroker.require()
        let broker = try PrivateBroker()
        let (tt, port) = try runningProcess(broker, guarantee: "at_least_once")
        broker.pause()
        let until = ContinuousClock.now + Self.bound + .seconds(5)
        while ContinuousClock.now < until {
            let health: (status: Int, body: String) = (try? httpGet(port, "/healthz")) ?? (0, "no answer")
            #expect(health.status == 200, "\(health.body)\n\(tt.stderr.suffix(2000))")
            if health.status != 200 { break }
            Thread.sleep(forTimeInterval: 0.25)
        }
        broker.resume()
        kill(tt.process.processIdentifier, SIGTERM)
        _ = tt.wait(timeout: .seconds(35))
    }
}
