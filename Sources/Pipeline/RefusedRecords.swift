import KafkaClient

/// Records the broker refuses for what they are (too large for the topic's `max.message.bytes`, or
/// failing its validation), as opposed to a broker that is away. Retrying such a record, or replaying
/// the input that made it, makes the same record again: a crash loop that is also a way to switch
/// detection off. So an alert or a dead letter that is refused goes to the dead-letter topic again
/// in a cut form (`cutForm`): its first `cutBytes` bytes and its headers, saying where it was going
/// and why it was refused. A cut form that is refused in turn is given up (logged as an error).
///
/// Exactly-once, a refused record makes the transaction abortable, and the replay after the abort
/// makes the same record again: `remembered` holds the identities of refused records (an alert's id
/// and revision, a dead letter's source offset) so that the replay sends their cut form instead.
struct RefusedRecords {
    static let cutBytes = 16_384
    static let reason = "record_refused"
    /// The header that marks a cut form (its value: the topic the record was refused by).
    static let refusedTopicHeader = OutputRecords.Header.refusedTopic

    private(set) var remembered = Set<String>()
    /// Alerts refused and replayed are rare; the bound only keeps a hostile stream from growing it.
    private static let maxRemembered = 10_000

    /// A refusal of this record, not of the moment: `MSG_SIZE_TOO_LARGE` (broker, or librdkafka's
    /// own `message.max.bytes` check), `RECORD_LIST_TOO_LARGE`, `INVALID_RECORD`.
    static func isRefusal(_ code: KafkaError.Code) -> Bool {
        [KafkaError.Code.messageTooLarge, .recordListTooLarge, .invalidRecord].contains { $0.rawValue == code.rawValue }
    }

    /// What identifies a record across a replay: nil for records that are not alerts or dead letters.
    static func identity(headers: [KafkaHeader]) -> String? {
        func value(_ name: String) -> String? { headers.first { $0.name == name }?.stringValue }
        typealias H = OutputRecords.Header
        if let id = value(H.alertID), let revision = value(H.revision) {
            return "alert \(id)#\(revision)"
        }
        if let t = value(H.sourceTopic), let p = value(H.sourcePartition), let o = value(H.sourceOffset) {
            return "dead letter \(t)/\(p)/\(o)"
        }
        return nil
    }

    mutating func remember(_ identity: String) {
        if remembered.count >= Self.maxRemembered { remembered.removeAll(keepingCapacity: true) }
        remembered.insert(identity)
    }

    /// What to do with a record about to be sent, exactly-once, after aborts: send it; send its cut
    /// form instead (it was refused before); or give it up (its cut form was refused too: sending
    /// either again would abort every transaction that holds it).
    enum Disposition: Equatable { case send, cutForm, giveUp }

    func disposition(headers: [KafkaHeader]) -> Disposition {
        guard !remembered.isEmpty, let id = Self.identity(headers: headers) else { return .send }
        if remembered.contains(Self.givenUp(id)) { return .giveUp }
        let isCutForm = headers.contains { $0.name == Self.refusedTopicHeader }
        return !isCutForm && remembered.contains(id) ? .cutForm : .send
    }

    /// A record refused in an aborted transaction: the replay sends its cut form, or nothing if it
    /// was the cut form that was refused.
    mutating func rememberRefusal(of record: KafkaProducedRecord) {
        guard let id = Self.identity(headers: record.headers) else { return }
        remember(record.header(Self.refusedTopicHeader) == nil ? id : Self.givenUp(id))
    }

    private static func givenUp(_ id: String) -> String { "given up: " + id }

    /// The record as a dead letter: the first `cutBytes` bytes of its value, its key (dead letters
    /// already cut it), its headers but `content-type` (a cut JSON value is no longer JSON) and
    /// earlier cut marks, and headers that say where it was going and why it was refused. Nil for
    /// a record that already is a cut form.
    static func cutForm(of record: KafkaProducedRecord, refusedBy error: KafkaError, deadLetterTopic: String) -> KafkaProducedRecord? {
        typealias H = OutputRecords.Header
        guard record.header(H.refusedTopic) == nil else { return nil }
        let dropped: Set<String> = [H.contentType, H.truncated, H.originalSize]
        var headers = record.headers.filter { !dropped.contains($0.name) }
        if record.header(H.error) == nil {
            headers.append(KafkaHeader(H.error, reason))
            headers.append(KafkaHeader(H.errorDetail, error.message))
        }
        headers.append(KafkaHeader(H.refusedTopic, record.topic))
        headers.append(KafkaHeader(H.refusedError, "\(error.code): \(error.message)"))
        headers += OutputRecords.cutMarks(size: record.value.count, limit: cutBytes)
        return KafkaProducedRecord(topic: deadLetterTopic, key: record.key, value: Array(record.value.prefix(cutBytes)), headers: headers)
    }
}
