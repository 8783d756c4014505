import ArgumentParser
import Foundation
import Logging
import TokentrailCore

/// `tokentrail check-config`: validate, let librdkafka judge the kafka map, print the effective
/// configuration with secrets masked. Exit 0 when valid, 2 when not (64 for a command-line usage error): usable as a CI gate or an
/// init container before `run`.
struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the configuration and print the effective configuration (secrets masked).")

    @OptionGroup var options: ConfigurationOptions
    @Option(help: "Output format: yaml or json.")
    var format = "yaml"
    @Flag(help: "Follow each value that is not a default with a comment saying where it came from (file:line, variable, flag).")
    var showSources = false
    @Flag(help: "Skip librdkafka's own check of the kafka properties.")
    var skipKafkaCheck = false

    func validate() throws {
        guard EffectiveConfiguration.Format(rawValue: format) != nil else {
            throw ValidationError("--format '\(format)': allowed values are yaml, json")
        }
    }

    func run() throws {
        let resolved = try options.load(environment: ProcessInfo.processInfo.environment)
        let settings = resolved.settings
        for w in resolved.warnings { printError("tokentrail: warning: \(w)") }
        let redactor = SecretRedactor(secrets: SecretMasking.secretValues(settings))
        LoggingSetup.bootstrap(settings.logging, redactor: redactor)
        if !skipKafkaCheck {
            var logger = Logger(label: "tokentrail.check-config")
            logger.logLevel = .critical  // librdkafka's "connection refused" chatter is not the point here.
            if let problem = KafkaPropertyCheck.check(settings, logger: logger) {
                printError("tokentrail: \(ConfigurationError([problem]))")
                throw ExitCode(2)
            }
        }
        _ = try makeDetection(resolved, logger: Logger(label: "tokentrail.check-config"))
        print(EffectiveConfiguration.render(settings, format: EffectiveConfiguration.Format(rawValue: format) ?? .yaml,
                                            sources: showSources ? resolved.sources : [:]), terminator: "")
    }
}
