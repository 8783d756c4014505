import ArgumentParser
import Detection
import Foundation
import Logging
import TokentrailCore

/// `tokentrail scan`: the rule and windows of `run`, from the same configuration, over CloudTrail
/// files, with no Kafka. Alerts go to stdout as JSON lines, a summary to stderr.
struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the rule and windows over CloudTrail files, no Kafka: alerts to stdout, a summary to stderr.",
        discussion: """
            Reads .json, .json.gz, JSON lines, JSON arrays and {"Records": [...]} documents; a directory \
            is walked recursively (an S3 export: AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz; \
            CloudTrail-Digest is skipped). The result does not depend on the order of files or of events \
            in them: every window closes at the end of the input, and final alerts (revision 1) are \
            printed in window order, then grouping key. Bad records are counted and listed in the summary; \
            the exit status is 1 only when a file cannot be read.
            """)

    @OptionGroup var options: ConfigurationOptions

    @Argument(help: "CloudTrail files or directories.")
    var paths: [String]

    @Flag(help: "Also print open alerts as windows reach the threshold while reading; open revisions, and so the final alert's revision number, then follow the reading order.")
    var includeOpen = false

    func run() throws {
        let resolved = try options.load(environment: ProcessInfo.processInfo.environment)
        for w in resolved.warnings { printError("tokentrail: warning: \(w)") }
        let files: CloudTrailFiles
        do {
            files = try CloudTrailFiles(paths: paths)
        } catch {
            printError("tokentrail: scan: \(error)")
            throw ExitCode(1)
        }
        // Stdout carries the alerts: anything the GeoIP databases log goes to stderr.
        var logger = Logger(label: "tokentrail", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .warning
        let setup = try makeDetection(resolved, logger: logger)
        let format = resolved.settings.outputFormat
        var scanOptions = BatchScan.Options(detector: setup.detector)
        scanOptions.includeOpen = includeOpen
        let scan = BatchScan(options: scanOptions, rule: setup.rule)
        let out = StdoutLines()
        var progress = ProgressLine(unit: .bytes, total: files.totalBytes)
        let began = ContinuousClock.now
        for file in files.files {
            do {
                try scan.scan(file: file.path, progress: { n in
                    let events = scan.summary.events - progress.events
                    progress.advance(done: n, events: events)
                }, alert: { out.append(format.encode($0)) })
                try out.flush()
            } catch {
                progress.finish()
                printError("tokentrail: scan: \(error)")
                throw ExitCode(1)
            }
        }
        scan.finish { out.append(format.encode($0)) }
        try out.flush()
        let rest = scan.summary.events - progress.events
        progress.advance(events: rest)
        progress.finish()
        var summary = scan.summary
        summary.skippedFiles = files.skipped
        FileHandle.standardError.write(Data(summary.render(elapsed: .now - began).utf8))
    }
}

/// Lines to stdout in large writes (each appended value becomes one line).
final class StdoutLines {
    private var buffer: [UInt8] = []

    init() { buffer.reserveCapacity(1 << 20) }

    func append(_ line: [UInt8]) {
        buffer.append(contentsOf: line)
        buffer.append(0x0A)
    }

    var count: Int { buffer.count }

    func flush() throws {
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { Foundation.write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CommandFailure("writing to stdout failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
