import CRdKafka
import Logging
import Synchronization

/// What librdkafka's C callbacks reach through the handle's opaque pointer.
///
/// `@unchecked Sendable`: log, error, statistics and delivery callbacks run on librdkafka's
/// threads, and everything they touch here is immutable or behind `Mutex`. `rebalanceListener`
/// is the exception: it is set before `subscribe` and read only by the rebalance callback, which
/// librdkafka runs on the thread that calls `poll`/`close` (the consumer's polling thread).
final class RDKafkaCallbacks: @unchecked Sendable {
    let logger: Logger
    let statistics: (@Sendable (String) -> Void)?
    let deliveryReport: (@Sendable (KafkaDeliveryReport) -> Void)?
    let oauthBearer: KafkaOAuthBearerTokenProvider?
    /// OAUTHBEARER tokens librdkafka accepted, and refreshes that failed (ours or librdkafka's refusal).
    let oauthBearerTokensSet = Atomic<Int>(0)
    let oauthBearerFailures = Atomic<Int>(0)
    nonisolated(unsafe) weak var rebalanceListener: (any KafkaRebalanceListener)?
    let fatalError = Mutex<KafkaError?>(nil)
    /// Set once `fatalError` holds an error: polls test it without taking the lock.
    let hasFatalError = Atomic<Bool>(false)

    init(
        logger: Logger, statistics: (@Sendable (String) -> Void)?,
        deliveryReport: (@Sendable (KafkaDeliveryReport) -> Void)?,
        oauthBearer: KafkaOAuthBearerTokenProvider? = nil
    ) {
        self.oauthBearer = oauthBearer
        self.logger = logger
        self.statistics = statistics
        self.deliveryReport = deliveryReport
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> RDKafkaCallbacks? {
        opaque.map { Unmanaged<RDKafkaCallbacks>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Installs the C trampolines on `conf`; `self` must outlive the handle made from it.
    func install(on conf: OpaquePointer, consumer: Bool, producer: Bool) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
            guard let rk, let box = RDKafkaCallbacks.from(rd_kafka_opaque(rk)) else { return }
            let swiftLevel: Logger.Level = switch level {
            case ...2: .critical
            case 3: .error
            case 4: .warning
            case 5: .notice
            case 6: .info
            default: .debug
            }
            box.logger.log(
                level: swiftLevel, "\(message.map { String(cString: $0) } ?? "")",
                metadata: [LogKeys.librdkafkaFacility: "\(facility.map { String(cString: $0) } ?? "")"])
        }
        rd_kafka_conf_set_error_cb(conf) { rk, rawErr, reason, opaque in
            guard let box = RDKafkaCallbacks.from(opaque) else { return }
            let err = rd_kafka_resp_err_t(rawValue: rawErr)
            let text = reason.map { String(cString: $0) } ?? ""
            if err == RD_KAFKA_RESP_ERR__FATAL, let rk {
                var buf = [CChar](repeating: 0, count: 512)
                let orig = rd_kafka_fatal_error(rk, &buf, buf.count)
                let message = String(cChars: buf)
                let error = KafkaError(code: .rd(orig), message: "fatal: \(message)", isFatal: true)
                box.fatalError.withLock { if $0 == nil { $0 = error } }
                box.hasFatalError.store(true, ordering: .releasing)
                box.logger.critical("librdkafka fatal error: \(message)", metadata: [LogKeys.errorCode: "\(KafkaError.Code.rd(orig))"])
            } else {
                // Transport errors are retried by librdkafka itself: a warning, not a failure.
                box.logger.warning("librdkafka: \(text)", metadata: [LogKeys.errorCode: "\(KafkaError.Code.rd(err))"])
            }
        }
        if statistics != nil {
            rd_kafka_conf_set_stats_cb(conf) { _, json, length, opaque in
                if let box = RDKafkaCallbacks.from(opaque), let json {
                    box.statistics?(String(decoding: UnsafeRawBufferPointer(start: json, count: length), as: UTF8.self))
                }
                return 0  // librdkafka frees the JSON.
            }
        }
        if producer {
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
                // Delivery-report messages belong to librdkafka: read, never destroy.
                guard let box = RDKafkaCallbacks.from(opaque), let m = message else { return }
                let topic = m.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
                let err = m.pointee.err
                let failed = err != RD_KAFKA_RESP_ERR_NO_ERROR
                // A failed record is copied (rare): the pipeline may dead-letter it in another form.
                let record = !failed ? nil : KafkaProducedRecord(
                    topic: topic,
                    key: m.pointee.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.pointee.key_len)) },
                    value: m.pointee.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.pointee.len)) } ?? [],
                    headers: RDKafkaMessageBox.headers(of: UnsafeMutablePointer(mutating: m)))
                box.deliveryReport?(KafkaDeliveryReport(
                    tag: tt_message_tag(m), topic: topic, partition: m.pointee.partition,
                    offset: failed ? nil : m.pointee.offset,
                    error: failed ? KafkaError.rd(err, "delivery to \(topic)") : nil, record: record))
            }
        }
        if oauthBearer != nil {
            // A queue of its own, which `RDKafkaClient.make` hands to librdkafka's background thread:
            // the refresh then happens for every client kind, polled or not (an admin client is not).
            rd_kafka_conf_enable_sasl_queue(conf, 1)
            rd_kafka_conf_set_oauthbearer_token_refresh_cb(conf) { rk, _, opaque in
                guard let rk else { return }
                RDKafkaCallbacks.from(opaque)?.refreshOAuthBearerToken(rk)
            }
        }
        if consumer {
            rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, opaque in
                guard let rk, let partitions else { return }
                RDKafkaCallbacks.from(opaque)?.rebalance(rk, err, partitions)
            }
        }
    }

    /// Asks the provider for a token and hands it to librdkafka, or reports the failure (librdkafka
    /// then retries after a back-off). The token itself is never logged.
    private func refreshOAuthBearerToken(_ rk: OpaquePointer) {
        guard let provider = oauthBearer else { return }
        let token: KafkaOAuthBearerToken
        do {
            token = try provider()
        } catch {
            oauthBearerFailures.add(1, ordering: .relaxed)
            logger.error("OAUTHBEARER token refresh failed: \(error)")
            rd_kafka_oauthbearer_set_token_failure(rk, "\(error)")
            return
        }
        let pairs = token.extensions.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] }
        let cStrings = pairs.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        var pointers = cStrings.map { UnsafePointer<CChar>($0) }
        var errstr = [CChar](repeating: 0, count: 512)
        let err = pointers.withUnsafeMutableBufferPointer { p in
            rd_kafka_oauthbearer_set_token(rk, token.value, token.expiresAtMilliseconds, token.principal,
                                           p.baseAddress, p.count, &errstr, errstr.count)
        }
        if err == RD_KAFKA_RESP_ERR_NO_ERROR {
            oauthBearerTokensSet.add(1, ordering: .relaxed)
            logger.debug("OAUTHBEARER token set", metadata: ["principal": "\(token.principal)", "expires_ms": "\(token.expiresAtMilliseconds)"])
        } else {
            oauthBearerFailures.add(1, ordering: .relaxed)
            let reason = String(cChars: errstr)
            logger.error("OAUTHBEARER token refused by librdkafka: \(reason)")
            rd_kafka_oauthbearer_set_token_failure(rk, reason)
        }
    }

    private func rebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let parts = RDKafkaTopicPartitionList.read(list).map(\.topicPartition)
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            let starts = rebalanceListener?.partitionsAssigned(parts) ?? [:]
            for i in 0..<Int(list.pointee.cnt) {
                if let o = starts[KafkaTopicPartition(String(cString: list.pointee.elems[i].topic), list.pointee.elems[i].partition)] {
                    list.pointee.elems[i].offset = o.rawValue
                }
            }
            logger.info("partitions assigned", metadata: [LogKeys.partitions: "\(parts.sorted())"])
            if cooperative {
                if let e = rd_kafka_incremental_assign(rk, list) { logger.error("\(KafkaError.consuming(e, "incremental assign"))") }
            } else {
                let e = rd_kafka_assign(rk, list)
                if e != RD_KAFKA_RESP_ERR_NO_ERROR { logger.error("\(KafkaError.rd(e, "assign"))") }
            }
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            if rd_kafka_assignment_lost(rk) != 0 {
                logger.warning("partitions lost", metadata: [LogKeys.partitions: "\(parts.sorted())"])
                rebalanceListener?.partitionsLost(parts)
            } else {
                logger.info("partitions revoked", metadata: [LogKeys.partitions: "\(parts.sorted())"])
                rebalanceListener?.partitionsRevoked(parts)
            }
            if cooperative {
                if let e = rd_kafka_incremental_unassign(rk, list) { logger.error("\(KafkaError.consuming(e, "incremental unassign"))") }
            } else {
                _ = rd_kafka_assign(rk, nil)
            }
        default:
            logger.error("rebalance error: \(String(cString: rd_kafka_err2str(err)))")
            rebalanceListener?.partitionsLost(parts)
            _ = rd_kafka_assign(rk, nil)
        }
    }
}
