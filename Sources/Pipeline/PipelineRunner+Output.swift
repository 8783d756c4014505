import Foundation
import KafkaClient
import Logging

extension PipelineRunner {
    /// Sends what the stages produced, in order.
    func sendOutput() throws {
        guard !output.records.isEmpty else { return }
        var records: [OutgoingRecord] = []
        swap(&records, &output.records)  // taken out: a send may add counters to `output`
        defer {
            records.removeAll(keepingCapacity: true)
            if output.records.isEmpty { swap(&records, &output.records) }  // the storage is reused
        }
        for r in records {
            try send(topic: r.record.topic, partition: r.partition, key: r.record.key, value: r.record.value,
                     headers: r.record.headers, timestampMilliseconds: r.timestampMilliseconds, consumedAt: r.consumedAt)
        }
    }

    /// Backpressure: while librdkafka's queue is full this waits (fetching stops with it, so memory
    /// stays bounded by the consumer's fetch queue); it never drops a record.
    /// `consumedAt` (wall clock, ms) has the delivery report measure the record's latency from then
    /// (`DeliveryTracker.takeLatencies`).
    func send(topic: String, partition: Int32?, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = [],
              timestampMilliseconds: Int64? = nil, consumedAt: Int64? = nil) throws {
        // Exactly-once replay of a record refused in an aborted transaction (`RefusedRecords`).
        switch refused.disposition(headers: headers) {
        case .send:
            break
        case .cutForm:
            try sendCutForm(of: KafkaProducedRecord(topic: topic, key: key, value: value, headers: headers),
                            refusedBy: KafkaError(code: .messageTooLarge, message: "refused in an aborted transaction"))
            return
        case .giveUp:
            logger.error("a record whose cut form the dead-letter topic refused is given up", metadata: [
                LogKeys.topic: "\(topic)", "alert_id": "\(headers.first { $0.name == OutputRecords.Header.alertID }?.stringValue ?? "-")",
            ])
            return
        }
        let tag = deliveries.issue(measuringFrom: consumedAt)
        while true {
            do {
                try clients.producer.send(topic: topic, partition: partition, key: key, value: value, headers: headers,
                                          timestampMilliseconds: timestampMilliseconds, tag: tag, queueFullTimeout: .seconds(10))
                return
            } catch {
                if RefusedRecords.isRefusal(error.code), topic == configuration.outputTopic || topic == configuration.deadLetterTopic {
                    // librdkafka's own size check (nothing was enqueued): the cut form at once.
                    deliveries.reported(tag, error: nil)
                    try sendCutForm(of: KafkaProducedRecord(topic: topic, key: key, value: value, headers: headers), refusedBy: error)
                    return
                }
                guard error.code == .queueFull, !hooks.stopRequested() else {
                    deliveries.reported(tag, error: nil)  // never enqueued: no report will come; thrown here
                    // Asked to stop with the queue still full (the broker away): give up rather than
                    // wait; nothing past the last commit is lost, a restart replays it.
                    throw error.code == .queueFull
                        ? KafkaError(code: .queueFull, message: "stopping with the producer queue full: the broker is away", isFatal: true)
                        : error
                }
                hooks.onProgress?()
                logger.warning("producer queue full for 10 s: the broker is slow or away; waiting", metadata: [LogKeys.topic: "\(topic)"])
            }
        }
    }

    func send(_ r: KafkaProducedRecord) throws {
        try send(topic: r.topic, partition: nil, key: r.key, value: r.value, headers: r.headers)
    }

    /// Takes the delivery failures. An alert or dead letter refused for what it is goes to the
    /// dead-letter topic in a cut form (`RefusedRecords`): at once at-least-once (returns true: the
    /// commit must wait for it too); exactly-once it is remembered and the transaction aborted, and
    /// the replay sends the cut form. Any other failure is not retried here: at-least-once the
    /// process stops before committing past it (a restart replays it); exactly-once the transaction
    /// is aborted and the partitions rewound (`abortAndRewind`).
    func handleDeliveryFailures() throws -> Bool {
        let failures = deliveries.takeFailures()
        guard !failures.isEmpty else { return false }
        let exactlyOnce = configuration.processingGuarantee == .exactlyOnce
        var other: [KafkaError] = []
        var sent = false
        for failure in failures {
            guard let record = failure.record, RefusedRecords.isRefusal(failure.error.code),
                  record.topic == configuration.outputTopic || record.topic == configuration.deadLetterTopic else {
                other.append(failure.error)
                continue
            }
            if exactlyOnce {
                refused.rememberRefusal(of: record)
                other.append(failure.error)
            } else {
                sent = try sendCutForm(of: record, refusedBy: failure.error) || sent
            }
        }
        if let first = other.first {
            throw KafkaError(code: first.code, message: "\(other.count) record(s) not delivered: \(first.message)",
                             isFatal: !exactlyOnce)
        }
        return sent
    }

    /// Sends a refused record's cut form to the dead-letter topic, counted and logged; false when the
    /// record already was a cut form (given up, logged as an error).
    @discardableResult
    func sendCutForm(of record: KafkaProducedRecord, refusedBy error: KafkaError) throws -> Bool {
        guard let cut = RefusedRecords.cutForm(of: record, refusedBy: error, deadLetterTopic: configuration.deadLetterTopic) else {
            logger.error("the dead-letter topic refused the cut form of a refused record: given up", metadata: [
                LogKeys.topic: "\(record.header(RefusedRecords.refusedTopicHeader) ?? "?")", LogKeys.errorCode: "\(error.code)",
                "alert_id": "\(record.header(OutputRecords.Header.alertID) ?? "-")",
            ])
            return false
        }
        logger.error("the broker refused a record: it goes to the dead-letter topic in a cut form", metadata: [
            LogKeys.topic: "\(record.topic)", LogKeys.errorCode: "\(error.code)", "bytes": "\(record.value.count)",
            "alert_id": "\(record.header(OutputRecords.Header.alertID) ?? "-")",
        ])
        output.counters.deadLettered[RefusedRecords.reason, default: 0] += 1
        try send(cut)
        return true
    }

    /// Repeats a transactional call that timed out (the broker away): librdkafka requires the same
    /// call again, not another one, until it completes or fails otherwise. Gives up when `run` stops.
    func retrying(_ what: String, _ call: () throws(KafkaError) -> Void) throws {
        var attempts = 0
        while true {
            var failure: KafkaError?
            do { try call() } catch { failure = error }
            guard let failure else { return }
            if failure.isFatal || failure.requiresAbort || !failure.isRetriable || hooks.stopRequested() { throw failure }
            attempts += 1
            if attempts == 1 || attempts % 10 == 0 {
                logger.warning("\(what) timed out; retrying while the broker is away", metadata: ["attempts": "\(attempts)", "error": "\(failure.message)"])
            }
            hooks.onProgress?()
            clients.clock.sleep(.seconds(1))
        }
    }
}
