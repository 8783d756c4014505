import Foundation
import KafkaClient
import KafkaTestSupport
import Testing

@Suite(.ownThreads, .enabled(if: TestBroker.isEnabled), .timeLimit(.minutes(6)))
struct PipelineSmokeTests {
    /// One stolen token on a 2-partition unkeyed topic: the final alert names both addresses, and
    /// it arrives with no further input (idle advance), and bad bytes are dead-lettered.
    @Test func stolenTokenAlertsAndBadBytesAreDeadLettered() throws {
        let bootstrap = try TestBroker.require()
        let input = TestBroker.unique("ct"), output = TestBroker.unique("alerts"), group = TestBroker.unique("tt")
        try TestBroker.createTopic(bootstrap, input, partitions: 2)
        let arn = "arn:aws:sts::111122223333:assumed-role/app/i-0abc"
        try produceRaw(bootstrap, topic: input, [
            (0, nil, Array(cloudTrailEvent(arn: arn, key: "ASIAEXAMPLE1", ip: "198.51.100.7", time: "2026-03-02T08:05:00Z").utf8)),
            (1, nil, Array(cloudTrailEvent(arn: arn, key: "ASIAEXAMPLE1", ip: "203.0.113.9", time: "2026-03-02T08:06:00Z").utf8)),
            (1, nil, Array("not json at all".utf8)),
            (0, nil, Array(cloudTrailEvent(arn: "arn:aws:iam::111122223333:user/bob", key: "AKIAEXAMPLE", ip: "192.0.2.1", time: "2026-03-02T08:07:00Z", type: "IAMUser").utf8)),
            (0, nil, Array(cloudTrailEvent(arn: "arn:aws:iam::111122223333:user/bob", key: "AKIAEXAMPLE", ip: "192.0.2.2", time: "2026-03-02T08:08:00Z", type: "IAMUser").utf8)),
        ])
        let tt = try TokentrailProcess(TokentrailProcess.runArguments(bootstrap: bootstrap, input: [input], output: output, group: group), name: "smoke")
        let reader = try AlertReader(bootstrap: bootstrap, topic: output)
        try reader.read(until: .now + .seconds(60)) { !$0.filter { $0.status == "final" }.isEmpty }
        tt.signal(SIGTERM)
        let status = tt.wait(timeout: .seconds(30))
        #expect(status == 0, "exit status after SIGTERM; log:\n\(tt.log.suffix(3000))")
        let finals = reader.finals
        #expect(finals.count == 1, "log:\n\(tt.log.suffix(3000))")
        #expect(finals.first?.principal == arn)
        #expect(finals.first?.addresses == ["198.51.100.7", "203.0.113.9"])
        #expect(finals.first?.windowStart == "2026-03-02T08:00:00Z")
        #expect(reader.alerts.contains { $0.status == "open" && $0.revision == 1 })

        // What a person at a terminal sees: `tokentrail alerts` prints the final as one line.
        let follower = try TokentrailProcess(["alerts", "--bootstrap-servers", bootstrap, "--topic", output, "--from-beginning",
                                              "--final-only", "--count", "1", "--timeout-seconds", "30"], name: "alerts")
        #expect(follower.wait(timeout: .seconds(40)) == 0)
        let line = follower.log
        #expect(line.hasPrefix("FINAL r"), "\(line)")
        #expect(line.contains(arn) && line.contains("2 addresses: 198.51.100.7, 203.0.113.9"), "\(line)")

        let dlq = try AlertReader(bootstrap: bootstrap, topic: "\(group).dlq")
        let consumer = dlq.consumer
        var dead: [KafkaMessage] = []
        let until = ContinuousClock.now + .seconds(20)
        while dead.isEmpty, ContinuousClock.now < until {
            if case .message(let m)? = try consumer.poll(timeout: .milliseconds(100)) { dead.append(m) }
        }
        #expect(dead.count == 1)
        #expect(dead.first.map { String(decoding: $0.value, as: UTF8.self) } == "not json at all")
        #expect(dead.first?.header("tokentrail.error")?.stringValue == "not_json")
        #expect(dead.first?.header("tokentrail.source.topic")?.stringValue == input)
        #expect(dead.first?.header("tokentrail.source.partition")?.stringValue == "1")
    }
}
