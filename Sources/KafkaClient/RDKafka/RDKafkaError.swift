import CRdKafka

extension KafkaError {
    /// From a response code, read where it happened (`rd_kafka_last_error()` is thread-local).
    static func rd(_ err: rd_kafka_resp_err_t, _ context: String, file: String = #fileID, line: UInt = #line) -> KafkaError {
        KafkaError(
            code: .rd(err), message: "\(context): \(String(cString: rd_kafka_err2str(err)))",
            isRetriable: err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__QUEUE_FULL
                || err == RD_KAFKA_RESP_ERR__TRANSPORT,
            file: file, line: line)
    }

    /// From an `rd_kafka_error_t`, which this call destroys.
    static func consuming(_ error: OpaquePointer, _ context: String, file: String = #fileID, line: UInt = #line) -> KafkaError {
        defer { rd_kafka_error_destroy(error) }
        return KafkaError(
            code: .rd(rd_kafka_error_code(error)),
            message: "\(context): \(String(cString: rd_kafka_error_string(error)))",
            isFatal: rd_kafka_error_is_fatal(error) != 0,
            isRetriable: rd_kafka_error_is_retriable(error) != 0,
            requiresAbort: rd_kafka_error_txn_requires_abort(error) != 0,
            file: file, line: line)
    }

    /// Throws if librdkafka returned an error object (and destroys it either way).
    static func check(_ error: OpaquePointer?, _ context: String, file: String = #fileID, line: UInt = #line) throws(KafkaError) {
        if let error { throw consuming(error, context, file: file, line: line) }
    }

    static func check(_ err: rd_kafka_resp_err_t, _ context: String, file: String = #fileID, line: UInt = #line) throws(KafkaError) {
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw rd(err, context, file: file, line: line) }
    }
}

extension KafkaError.Code {
    static func rd(_ err: rd_kafka_resp_err_t) -> Self {
        Self(rawValue: err.rawValue, name: String(cString: rd_kafka_err2name(err)))
    }
}
