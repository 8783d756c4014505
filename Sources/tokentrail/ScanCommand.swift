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

    @Option(help: "Threads that decode and threads that hold windows (each that many); 1 reads the files one at a time on one thread. Default: one per core.")
    var workers: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1, got \(workers)") }
    }

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
        let began = ContinuousClock.now
        if workers > 1 {
            try runParallel(files: files, options: scanOptions, rule: setup.rule, format: format, began: began)
            return
        }
        let scan = BatchScan(options: scanOptions, rule: setup.rule)
        let out = StdoutLines()
        var progress = ProgressLine(unit: .bytes, total: files.totalBytes)
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

extension Scan {
    /// `ParallelScan` with `workers` threads of each kind: the same output as one worker.
    private func runParallel(
        files: CloudTrailFiles, options: BatchScan.Options, rule: DetectionRule, format: AlertFormat, began: ContinuousClock.Instant
    ) throws {
        let scan = ParallelScan(options: options, workers: workers, rule: rule)
        let out = ScanOutput(lines: StdoutLines(), progress: ProgressLine(unit: .bytes, total: files.totalBytes))
        var summary: ScanSummary
        do {
            summary = try scan.scan(paths: files.files.map(\.path), progress: { bytes, events in
                out.locked { $0.progress.advance(done: bytes, events: events) }
            }, alert: { alert in
                out.locked { $0.lines.append(format.encode(alert)) }
            })
            try out.locked { try $0.lines.flush() }
        } catch {
            out.locked { $0.progress.finish() }
            printError("tokentrail: scan: \(error)")
            throw ExitCode(1)
        }
        out.locked { $0.progress.finish() }
        summary.skippedFiles = files.skipped
        FileHandle.standardError.write(Data(summary.render(elapsed: .now - began).utf8))
    }
}

/// Stdout and the progress line, written from the scan's threads one at a time.
final class ScanOutput: @unchecked Sendable {
    struct State {
        var lines: StdoutLines
        var progress: ProgressLine
    }
    private var state: State
    private let lock = NSLock()

    init(lines: StdoutLines, progress: ProgressLine) { state = State(lines: lines, progress: progress) }

    func locked<R>(_ body: (inout State) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&state)
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
