import Foundation
import KafkaClient
import KafkaTestSupport
import Testing

/// `tokentrail alerts` prints values that came from events: nothing in them may drive the terminal.
@Suite(.ownThreads, .enabled(if: TestBroker.isEnabled), .timeLimit(.minutes(3)))
struct AlertsCommandTests {
    @Test func escapeSequencesInAlertFieldsArePrintedInert() throws {
        let bootstrap = try TestBroker.require()
        let topic = TestBroker.unique("alerts")
        try TestBroker.createTopic(bootstrap, topic, partitions: 1)
        // An alert as tokentrail writes it, with an ARN and a user agent that carry terminal controls.
        let alert = #"{"alert_id":"x","status":"final","revision":1,"principal":{"arn":"arn:aws:sts::1:assumed-role/a/\u001b]0;pwned\u0007s","type":"AssumedRole"},"window":{"start":"2026-03-02T08:00:00Z","end":"2026-03-02T08:30:00Z"},"source_addresses":{"values":["192.0.2.1","192.0.2.2"],"count":2},"user_agents":["evil\u001b[2J\u009b31m\u202eagent","aws-cli/2.15.0"],"event_count":2}"#
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(common: KafkaConfiguration(bootstrapServers: bootstrap)), logger: TestBroker.logger)
        try producer.send(topic: topic, key: nil, value: Array(alert.utf8))
        try producer.close(timeout: .seconds(30))

        let (status, out, err) = try Tokentrail.run(["alerts", "--bootstrap-servers", bootstrap, "--topic", topic, "--from-beginning",
                                                     "--count", "1", "--timeout-seconds", "60"])
        #expect(status == 0, "\(err)")
        #expect(out.hasPrefix("FINAL r1"), "\(out)")
        let controls = out.unicodeScalars.filter { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) || $0.value == 0x202E }
        #expect(controls.isEmpty, "control characters printed: \(controls.map { String($0.value, radix: 16) })")
        #expect(out.contains(#"evil\u{1b}[2J\u{9b}31m\u{202e}agent | aws-cli/2.15.0"#), "user agents shown, inert: \(out)")
        #expect(out.contains(#"\u{1b}]0;pwned\u{7}s"#))
    }
}
