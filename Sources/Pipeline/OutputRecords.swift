import Detection
import KafkaClient

/// The records downstream reads: alerts on the output topic, dead letters on the dead-letter topic.
/// Their header names and layout are a contract with alert consumers and dead-letter tooling
/// (README, "Alerts" and "Bad input"); they are written here and nowhere else.
enum OutputRecords {
    /// Header names.
    enum Header {
        static let alertID = "tokentrail.alert_id"
        static let status = "tokentrail.status"
        static let revision = "tokentrail.revision"
        static let schemaVersion = "tokentrail.schema_version"
        static let contentType = "content-type"
        static let error = "tokentrail.error"
        static let errorDetail = "tokentrail.error.detail"
        static let errors = "tokentrail.errors"
        static let errorCount = "tokentrail.error_count"
        static let sourceTopic = "tokentrail.source.topic"
        static let sourcePartition = "tokentrail.source.partition"
        static let sourceOffset = "tokentrail.source.offset"
        static let recordIndex = "tokentrail.record_index"
        static let recordIndexes = "tokentrail.record_indexes"
        static let truncated = "tokentrail.truncated"
        static let originalSize = "tokentrail.original_size"
        static let keyTruncated = "tokentrail.key_truncated"
        static let originalKeySize = "tokentrail.original_key_size"
        static let refusedTopic = "tokentrail.refused.topic"
        static let refusedError = "tokentrail.refused.error"
    }

    /// A dead letter's key is the input record's, cut to this (the value is cut to `maxBytes`).
    static let maxDeadLetterKeyBytes = 16_384

    /// The headers that say a value of `size` bytes was cut to `limit`; none when it fits.
    static func cutMarks(size: Int, limit: Int) -> [KafkaHeader] {
        size > limit ? [KafkaHeader(Header.truncated, "true"), KafkaHeader(Header.originalSize, String(size))] : []
    }

    /// An alert: keyed by its grouping key, the document in `format` as value.
    static func alert(_ alert: Alert, topic: String, format: AlertFormat = .native) -> KafkaProducedRecord {
        KafkaProducedRecord(topic: topic, key: alert.recordKey, value: format.encode(alert), headers: [
            KafkaHeader(Header.alertID, alert.id),
            KafkaHeader(Header.status, alert.status.rawValue),
            KafkaHeader(Header.revision, String(alert.revision)),
            KafkaHeader(Header.schemaVersion, String(Alert.schemaVersion)),
            KafkaHeader(Header.contentType, format.contentType),
        ])
    }

    /// One dead letter per input record, whatever it held: the original bytes (cut to `maxBytes`),
    /// the first problem and a count per reason in headers, and its origin. Nil without a problem.
    static func deadLetter(_ m: some ConsumedRecord, problems: RecordProblems, topic: String, maxBytes: Int) -> KafkaProducedRecord? {
        guard let first = problems.first else { return nil }
        var headers = [
            KafkaHeader(Header.error, first.reason),
            KafkaHeader(Header.errorDetail, first.detail),
            KafkaHeader(Header.errors, problems.summary),
            KafkaHeader(Header.errorCount, String(problems.total)),
            KafkaHeader(Header.sourceTopic, m.topic),
            KafkaHeader(Header.sourcePartition, String(m.partition)),
            KafkaHeader(Header.sourceOffset, String(m.offset)),
        ]
        if let index = problems.indexes.first {
            headers.append(KafkaHeader(Header.recordIndex, String(index)))
            headers.append(KafkaHeader(Header.recordIndexes, problems.indexes.map(String.init).joined(separator: ",")))
        }
        headers += cutMarks(size: m.valueCount, limit: maxBytes)
        var key = m.key
        if let k = key, k.count > maxDeadLetterKeyBytes {
            key = Array(k.prefix(maxDeadLetterKeyBytes))
            headers.append(KafkaHeader(Header.keyTruncated, "true"))
            headers.append(KafkaHeader(Header.originalKeySize, String(k.count)))
        }
        let value = m.withValueBytes { Array($0.prefix(maxBytes)) }
        return KafkaProducedRecord(topic: topic, key: key, value: value, headers: headers)
    }
}
