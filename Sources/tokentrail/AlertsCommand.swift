import ArgumentParser
import Foundation
import KafkaClient
import Logging

/// `tokentrail alerts`: follows the alert topic and prints each alert as one readable line (or the
/// raw JSON), for the demo and for a person at a terminal. Reads outside any shared group. The
/// cluster, its security settings and the alert topic come from the same configuration as `run`'s
/// (`--config`, `TOKENTRAIL_*`, `--kafka`, `--bootstrap-servers`), so it reaches a secured cluster too.
struct Alerts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print alerts from the alert topic as they arrive, one readable line each.")

    @OptionGroup var options: ConfigurationOptions
    @Option(help: "The alert topic (default: topics.output).")
    var topic: String?
    @Flag(help: "Start at the oldest alert instead of new ones only.")
    var fromBeginning = false
    @Flag(help: "Print each alert's JSON unchanged.")
    var json = false
    @Flag(help: "Print final alerts only.")
    var finalOnly = false
    @Option(help: "Exit after printing this many alerts (0: follow until interrupted).")
    var count = 0
    @Option(help: "Exit after this many seconds (0: no limit).")
    var timeoutSeconds = 0

    func run() throws {
        let (settings, kafka) = try options.loadForCluster(clientID: "tokentrail-alerts")
        let topic = self.topic ?? settings.outputTopic
        var logger = Logger(label: "tokentrail.alerts") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .error
        var config = KafkaConsumerConfiguration(
            common: kafka,
            groupID: "tokentrail-alerts-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))",
            sessionTimeoutMilliseconds: 6000, autoOffsetReset: fromBeginning ? .earliest : .latest)
        config.reportEndOfPartition = false
        let consumer = try KafkaConsumer(configuration: config, logger: logger)
        try consumer.subscribe(topics: [topic])
        signal(SIGINT, SIG_DFL)
        let deadline = timeoutSeconds > 0 ? ContinuousClock.now + .seconds(timeoutSeconds) : nil
        var printed = 0
        while count == 0 || printed < count {
            if let deadline, ContinuousClock.now >= deadline { break }
            guard case .message(let m)? = try consumer.poll(timeout: .milliseconds(200)) else { continue }
            let bytes = m.value
            guard let record = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { continue }
            let object = AlertLine.nativeView(record)
            if finalOnly, object["status"] as? String != "final" { continue }
            // Written straight to the descriptor: a pipe gets each line as it happens.
            FileHandle.standardOutput.write(Data(((json ? String(decoding: bytes, as: UTF8.self) : AlertLine.render(object)) + "\n").utf8))
            printed += 1
        }
        try consumer.close()
    }
}

/// One alert as a line a person reads at a glance.
enum AlertLine {
    /// The native fields of an alert written in any `output.format`: an OCSF record keeps those OCSF
    /// has no attribute for under `unmapped.tokentrail`, an ECS document under `tokentrail`.
    static func nativeView(_ r: [String: Any]) -> [String: Any] {
        func dict(_ o: [String: Any]?, _ k: String) -> [String: Any]? { o?[k] as? [String: Any] }
        if let t = dict(dict(r, "unmapped"), "tokentrail") {
            var a = t
            a["principal"] = ["arn": dict(dict(r, "actor"), "user")?["uid"] as? String ?? "?"]
            a["event_count"] = r["count"]
            return a
        }
        if let t = dict(r, "tokentrail"), dict(r, "ecs") != nil {
            var a = t
            a["principal"] = ["arn": dict(r, "user")?["id"] as? String ?? "?"]
            let agents = dict(r, "user_agent")?["original"]
            a["user_agents"] = agents as? [String] ?? (agents as? String).map { [$0] } ?? []
            return a
        }
        return r
    }

    static func render(_ a: [String: Any]) -> String {
        func dict(_ k: String) -> [String: Any] { a[k] as? [String: Any] ?? [:] }
        let status = (a["status"] as? String ?? "?").uppercased()
        let revision = a["revision"] as? Int ?? 0
        let principal = dict("principal")["arn"] as? String ?? "?"
        let window = dict("window")
        let addresses = dict("source_addresses")
        let values = addresses["values"] as? [String] ?? []
        let total = addresses["count"] as? Int ?? values.count
        let agents = (a["user_agents"] as? [String] ?? []).prefix(2).joined(separator: " | ")
        let start = (window["start"] as? String ?? "?").replacingOccurrences(of: "T", with: " ")
        let end = (window["end"] as? String ?? "?").split(separator: "T").last.map(String.init) ?? "?"
        let shown = values.prefix(6).joined(separator: ", ") + (total > 6 ? ", ... (\(total) in all)" : "")
        let line = "\(status) r\(revision)  \(principal)  \(start)-\(end)  \(total) addresses: \(shown)"
            + "  events: \(a["event_count"] as? Int ?? 0)" + (agents.isEmpty ? "" : "  agents: \(agents)")
        return printable(line)
    }

    /// Control characters (C0, DEL, C1: terminal escape sequences) and bidirectional overrides shown
    /// as `\u{..}`: the values come from events, and an attacker chooses their user agent.
    static func printable(_ text: String) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0..<0x20, 0x7F...0x9F, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069:
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
