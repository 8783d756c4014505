import Detection
import KafkaClient
import Logging

/// A record a stage asks to send, and what the send needs besides the record.
struct OutgoingRecord {
    var record: KafkaProducedRecord
    /// An explicit partition (repartition batches, markers, checkpoints); nil: by key.
    var partition: Int32? = nil
    var timestampMilliseconds: Int64? = nil
    /// When the event behind an `open` alert's first revision was consumed (wall clock, ms): its
    /// delivery report measures `tokentrail_open_alert_latency_seconds` from then.
    var consumedAt: Int64? = nil
}

/// Where the stages put what they produce: records to send, in order, and the counters and warnings
/// that go with them. The stages do no I/O; the runner sends `records` after each consumed record.
struct StageOutput {
    /// In order; the runner takes them after each consumed record (`PipelineRunner.sendOutput`).
    var records: [OutgoingRecord] = []
    var counters = PipelineCounters()
    var warnings = RateLimitedWarnings()
    let logger: Logger
    let outputTopic: String
    let alertFormat: AlertFormat
    let deadLetterTopic: String
    let deadLetterMaxBytes: Int

    init(configuration: PipelineConfiguration, logger: Logger) {
        self.logger = logger
        outputTopic = configuration.outputTopic
        alertFormat = configuration.alertFormat
        deadLetterTopic = configuration.deadLetterTopic
        deadLetterMaxBytes = configuration.deadLetterMaxBytes
    }

    mutating func send(_ record: OutgoingRecord) { records.append(record) }

    /// Forgets what was not sent yet (an aborted transaction is replayed instead).
    mutating func discard() { records.removeAll(keepingCapacity: true) }

    /// Alerts to the output topic, counted and logged. `consumedAt`: when the event that brought them
    /// was consumed; an `open` alert's first revision is measured from it.
    mutating func alerts(_ alerts: [Alert], consumedAt: Int64? = nil) {
        for alert in alerts {
            let measured = alert.status == .open && alert.revision == 1 ? consumedAt : nil
            send(OutgoingRecord(record: OutputRecords.alert(alert, topic: outputTopic, format: alertFormat), consumedAt: measured))
            counters.alertsProduced[alert.status.rawValue, default: 0] += 1
            logger.notice("alert", metadata: [
                "alert_id": "\(alert.id)", "status": "\(alert.status.rawValue)", "revision": "\(alert.revision)",
                "principal": "\(alert.principal.arn)", "addresses": "\(alert.sourceAddresses.count)",
                "window_start": "\(alert.window.start)",
            ])
        }
    }

    /// One dead letter per input record, whatever it held (`OutputRecords.deadLetter`), counted and logged.
    mutating func deadLetter(_ m: some ConsumedRecord, problems: RecordProblems) {
        guard let first = problems.first,
              let r = OutputRecords.deadLetter(m, problems: problems, topic: deadLetterTopic, maxBytes: deadLetterMaxBytes)
        else { return }
        send(OutgoingRecord(record: r))
        for (reason, n) in problems.counts { counters.deadLettered[reason, default: 0] += n }
        warnings.warning(logger, "dead-lettered a record", reason: first.reason, metadata: [
            "errors": "\(problems.summary)", LogKeys.topic: "\(m.topic)", LogKeys.partition: "\(m.partition)",
            LogKeys.offset: "\(m.offset)",
        ])
    }

    /// A warning caused by input, rate-limited per reason.
    mutating func warn(_ message: @autoclosure () -> Logger.Message, reason: String, metadata: @autoclosure () -> Logger.Metadata = [:]) {
        warnings.warning(logger, message(), reason: reason, metadata: metadata())
    }
}
