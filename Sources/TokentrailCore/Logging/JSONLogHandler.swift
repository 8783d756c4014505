import Foundation
public import Logging
import Synchronization

/// One JSON object per line, for log pipelines (Loki, CloudWatch, Elastic): `ts`, `level`,
/// `logger`, `message`, then every metadata key (librdkafka's lines keep `librdkafka.facility`).
///
/// Secrets are scrubbed from the message and from metadata values by `redactor` before the line
/// is written, whatever produced them.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    private let label: String
    private let redactor: SecretRedactor
    private let sink: LogSink

    public init(label: String, redactor: SecretRedactor, sink: LogSink = .standardError) {
        self.label = label
        self.redactor = redactor
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let m = event.metadata { merged.merge(m) { $1 } }
        var line = "{\"ts\":\(Self.quote(Self.timestamp()))"
        line += ",\"level\":\(Self.quote(event.level.rawValue))"
        line += ",\"logger\":\(Self.quote(label))"
        line += ",\"message\":\(Self.quote(redactor.redact(event.message.description)))"
        if let e = event.error { line += ",\"error\":\(Self.quote(redactor.redact(String(describing: e))))" }
        for (k, v) in merged.sorted(by: { $0.key < $1.key }) where !["ts", "level", "logger", "message"].contains(k) {
            line += ",\(Self.quote(k)):\(Self.quote(redactor.redact(v.description)))"
        }
        line += "}\n"
        sink.write(line)
    }

    static func timestamp() -> String {
        Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    static func quote(_ s: String) -> String { EffectiveConfiguration.quote(s) }
}

/// Wraps the text handler so that the secret scrub applies to human-readable logs too.
public struct RedactingLogHandler: LogHandler {
    private var inner: any LogHandler
    private let redactor: SecretRedactor

    public init(_ inner: any LogHandler, redactor: SecretRedactor) {
        self.inner = inner
        self.redactor = redactor
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }
    public var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }
    public var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        var e = event
        e.message = "\(redactor.redact(event.message.description))"
        e.metadata = event.metadata?.mapValues { .string(redactor.redact($0.description)) }
        // The handler's own metadata (`logger[metadataKey:]`) is printed too: scrub a copy.
        var scrubbed = inner
        scrubbed.metadata = inner.metadata.mapValues { .string(redactor.redact($0.description)) }
        scrubbed.log(event: e)
    }
}

/// Where log lines go; a test passes `.capture` to read them back.
public final class LogSink: Sendable {
    private let lines = Mutex<[String]>([])
    private let toStandardError: Bool

    private init(toStandardError: Bool) { self.toStandardError = toStandardError }

    public static let standardError = LogSink(toStandardError: true)
    public static func capture() -> LogSink { LogSink(toStandardError: false) }

    public func write(_ line: String) {
        if toStandardError {
            FileHandle.standardError.write(Data(line.utf8))
        } else {
            lines.withLock { $0.append(line) }
        }
    }

    public var captured: [String] { lines.withLock { $0 } }
}

public enum LoggingSetup {
    /// Whether `format` means JSON here: `auto` is JSON unless stderr is a terminal.
    public static func usesJSON(_ format: LogFormat) -> Bool {
        switch format {
        case .json: return true
        case .text: return false
        case .auto: return isatty(STDERR_FILENO) == 0
        }
    }

    /// Bootstraps swift-log once for the process: JSON or text, secrets scrubbed, at `level`.
    public static func bootstrap(_ settings: LoggingSettings, redactor: SecretRedactor) {
        let json = usesJSON(settings.format)
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json
                ? JSONLogHandler(label: label, redactor: redactor)
                : RedactingLogHandler(StreamLogHandler.standardError(label: label), redactor: redactor)
            handler.logLevel = settings.level
            return handler
        }
    }
}
