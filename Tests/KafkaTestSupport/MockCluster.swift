import CRdKafka
import Foundation

/// librdkafka's mock cluster (`rdkafka_mock.h`): Kafka brokers inside this process, on loopback TCP,
/// that speak the protocol to any client (the built binary too) and answer chosen requests with
/// chosen errors: the faults tansu cannot make (a record too large for a topic, an abortable
/// transaction error, a coordinator that moved). No CreateTopics: topics are created here.
public final class MockCluster: @unchecked Sendable {
    /// Kafka API keys (the protocol's numbers) of the requests errors are injected into.
    public enum API: Int16, Sendable {
        case produce = 0, fetch = 1, offsetCommit = 8, findCoordinator = 10, joinGroup = 11, heartbeat = 12,
             syncGroup = 14, initProducerId = 22, addPartitionsToTxn = 24, addOffsetsToTxn = 25, endTxn = 26,
             txnOffsetCommit = 28
    }

    /// Kafka error codes used by the tests.
    public enum ErrorCode: Int32, Sendable {
        case messageTooLarge = 10, notCoordinator = 16, topicAuthorizationFailed = 29, coordinatorNotAvailable = 15, unknownProducerId = 59,
             concurrentTransactions = 51
    }

    private let handle: OpaquePointer
    private let cluster: OpaquePointer
    /// `host:port,...` of the mock brokers.
    public let bootstrap: String

    public init(brokers: Int32 = 1) throws {
        let conf = rd_kafka_conf_new()
        var errstr = [CChar](repeating: 0, count: 512)
        // This handle only hosts the cluster: no notice that it has no bootstrap servers.
        _ = rd_kafka_conf_set(conf, "log_level", "4", &errstr, errstr.count)
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            throw MockClusterError(message: String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        guard let mc = rd_kafka_mock_cluster_new(rk, brokers) else {
            rd_kafka_destroy(rk)
            throw MockClusterError(message: "rd_kafka_mock_cluster_new failed")
        }
        handle = rk
        cluster = mc
        bootstrap = String(cString: rd_kafka_mock_cluster_bootstraps(mc))
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(handle)
    }

    /// Creates `name` with every partition led by `leader` (a broker id from 1), or as the mock spreads them.
    public func createTopic(_ name: String, partitions: Int32, leader: Int32? = nil) throws {
        let err = rd_kafka_mock_topic_create(cluster, name, partitions, 1)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw MockClusterError(message: "create \(name): \(String(cString: rd_kafka_err2str(err)))")
        }
        if let leader {
            for p in 0..<partitions { _ = rd_kafka_mock_partition_set_leader(cluster, name, p, leader) }
        }
    }

    /// The next `count` requests of `api` that `broker` receives are answered with `error`.
    public func pushErrors(_ api: API, broker: Int32, _ error: ErrorCode, count: Int = 1) {
        for _ in 0..<count {
            _ = tt_mock_broker_push_error(cluster, broker, api.rawValue, rd_kafka_resp_err_t(error.rawValue), 0)
        }
    }

    /// How many errors pushed for `broker`'s `api` requests are still to be answered.
    public func pendingErrors(_ api: API, broker: Int32) -> Int {
        var count = 0
        _ = rd_kafka_mock_broker_error_stack_cnt(cluster, broker, api.rawValue, &count)
        return count
    }

    /// The next requests of `api` that any broker receives are answered with `errors`, in order.
    public func pushErrors(_ api: API, _ errors: [ErrorCode]) {
        var codes = errors.map { rd_kafka_resp_err_t($0.rawValue) }
        rd_kafka_mock_push_request_errors_array(cluster, api.rawValue, codes.count, &codes)
    }

    /// The group coordinator and transaction coordinator for everything: `broker`.
    public func setCoordinator(group: String, broker: Int32) {
        _ = rd_kafka_mock_coordinator_set(cluster, "group", group, broker)
    }
}

public struct MockClusterError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
