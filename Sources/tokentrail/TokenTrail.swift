import ArgumentParser
import Detection
import KafkaClient

/// tokentrail: catches stolen AWS session tokens in CloudTrail, as a stream.
@main
struct TokenTrail: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokentrail",
        abstract: "Detects AWS temporary session tokens used from several addresses, in CloudTrail streamed through Kafka.",
        version: "tokentrail \(Product.version) (librdkafka \(Librdkafka.version))",
        subcommands: [Run.self, CheckConfig.self, Scan.self, RuleTest.self, Replay.self, Simulate.self, Alerts.self, MSKToken.self],
        defaultSubcommand: Run.self
    )
}
