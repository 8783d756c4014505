/// Every failure of the Kafka layer: librdkafka's error code and text, its classification,
/// and where in our code it surfaced.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// An extensible error code: librdkafka's `rd_kafka_resp_err_t` value, plus our own few.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int32
        public let name: String
        public init(rawValue: Int32, name: String) { self.rawValue = rawValue; self.name = name }
        public var description: String { name }

        /// A configuration property was rejected (unknown name or invalid value).
        public static let invalidConfiguration = Code(rawValue: -100_001, name: "invalid_configuration")
        /// A client handle could not be created.
        public static let clientCreation = Code(rawValue: -100_002, name: "client_creation")
        /// An operation did not finish within its deadline.
        public static let timedOut = Code(rawValue: -185, name: "_TIMED_OUT")
        /// The producer's local queue is full: poll (serve delivery reports) and retry.
        public static let queueFull = Code(rawValue: -184, name: "_QUEUE_FULL")
        /// The record is larger than `message.max.bytes`.
        public static let messageTooLarge = Code(rawValue: 10, name: "MSG_SIZE_TOO_LARGE")
        /// A produce request's batch is larger than the broker accepts.
        public static let recordListTooLarge = Code(rawValue: 18, name: "RECORD_LIST_TOO_LARGE")
        /// The broker's validation refused the record.
        public static let invalidRecord = Code(rawValue: 87, name: "INVALID_RECORD")
        public static let topicAlreadyExists = Code(rawValue: 36, name: "TOPIC_ALREADY_EXISTS")
        public static let unknownTopicOrPartition = Code(rawValue: 3, name: "UNKNOWN_TOPIC_OR_PART")
        public static let clientClosed = Code(rawValue: -100_003, name: "client_closed")
        /// A transaction was given up on (tokentrail's own: it is aborted and its input replayed).
        public static let transactionAborted = Code(rawValue: -100_004, name: "transaction_aborted")
    }

    public var code: Code
    public var message: String
    /// The client instance can no longer be used (e.g. a fenced transactional producer).
    public var isFatal: Bool
    /// The same call may succeed if retried.
    public var isRetriable: Bool
    /// A transactional error that requires `abortTransaction()` before continuing.
    public var requiresAbort: Bool
    public var file: String
    public var line: UInt

    public init(
        code: Code, message: String, isFatal: Bool = false, isRetriable: Bool = false,
        requiresAbort: Bool = false, file: String = #fileID, line: UInt = #line
    ) {
        self.code = code
        self.message = message
        self.isFatal = isFatal
        self.isRetriable = isRetriable
        self.requiresAbort = requiresAbort
        self.file = file
        self.line = line
    }

    public var description: String {
        var flags: [String] = []
        if isFatal { flags.append("fatal") }
        if isRetriable { flags.append("retriable") }
        if requiresAbort { flags.append("abortable") }
        let f = flags.isEmpty ? "" : " [\(flags.joined(separator: ","))]"
        return "Kafka error \(code.name)\(f): \(message) (at \(file):\(line))"
    }
}
