import CoreMetrics
import Foundation
import Synchronization

/// Turns librdkafka's statistics JSON (`statistics.interval.ms`, librdkafka STATISTICS.md) into the
/// few gauges an operator acts on: broker round-trip time and request queues, the client's message
/// queue, per-partition consumer lag and fetch queue.
///
/// Fed by `PipelineConfiguration.statistics`, which the pipeline hands to its consumer and producer.
/// Series of brokers and partitions that leave the statistics (a rebalance moved them away) are
/// removed, not left stale.
public final class LibrdkafkaStatistics: Sendable {
    private let factory: any MetricsFactory
    private let gauges = Mutex<[String: [String: CoreMetrics.Gauge]]>([:])

    public init(metrics: PipelineMetrics) { factory = metrics.factoryForExtensions }

    /// One statistics document from the client of `type` (`consumer` or `producer`) of pipeline
    /// `pipeline` (setting `threads`; nil when the process runs one: no `pipeline` label then).
    public func publish(json: String, pipeline: Int? = nil) {
        guard let root = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return }
        let type = root["type"] as? String ?? "unknown"
        let client: [(String, String)] = [("client", type)] + (pipeline.map { [("pipeline", String($0))] } ?? [])
        var values: [(name: String, dims: [(String, String)], value: Double)] = []
        if let n = number(root["msg_cnt"]) { values.append(("tokentrail_kafka_client_queue_messages", client, n)) }
        if let n = number(root["replyq"]) { values.append(("tokentrail_kafka_client_reply_queue_ops", client, n)) }
        for case let broker as [String: Any] in (root["brokers"] as? [String: Any] ?? [:]).values {
            // The internal pseudo-broker (nodeid -1) and bootstrap entries carry no traffic.
            guard let id = number(broker["nodeid"]), id >= 0, let name = broker["nodename"] as? String else { continue }
            let dims = client + [("broker", name)]
            if let rtt = broker["rtt"] as? [String: Any], let avg = number(rtt["avg"]), avg > 0 {
                values.append(("tokentrail_kafka_broker_rtt_seconds", dims, avg / 1_000_000))
            }
            if let n = number(broker["outbuf_cnt"]) { values.append(("tokentrail_kafka_broker_outbuf_requests", dims, n)) }
            if let n = number(broker["waitresp_cnt"]) { values.append(("tokentrail_kafka_broker_waitresp_requests", dims, n)) }
        }
        if type == "consumer" {
            for case let topic as [String: Any] in (root["topics"] as? [String: Any] ?? [:]).values {
                guard let t = topic["topic"] as? String else { continue }
                for case let p as [String: Any] in (topic["partitions"] as? [String: Any] ?? [:]).values {
                    guard let id = number(p["partition"]), id >= 0 else { continue }
                    let dims = [("topic", t), ("partition", String(Int(id)))]
                    // -1: not known yet (no fetch or no committed offset): leave the series out.
                    if let lag = number(p["consumer_lag"]), lag >= 0 { values.append(("tokentrail_kafka_consumer_lag_records", dims, lag)) }
                    if let q = number(p["fetchq_cnt"]), q > 0 || p["consumer_lag"] != nil {
                        values.append(("tokentrail_kafka_fetch_queue_messages", dims, q))
                    }
                }
            }
        }
        let factory = self.factory
        let clientKey = pipeline.map { "\(type)#\($0)" } ?? type
        gauges.withLock { byClient in
            var current: [String: CoreMetrics.Gauge] = [:]
            var previous = byClient[clientKey] ?? [:]
            for v in values {
                let key = v.name + v.dims.map { "|\($0.0)=\($0.1)" }.joined()
                let g = previous.removeValue(forKey: key) ?? CoreMetrics.Gauge(label: v.name, dimensions: v.dims, factory: factory)
                g.record(v.value)
                current[key] = g
            }
            for g in previous.values { g.destroy() }
            byClient[clientKey] = current
        }
    }

    private func number(_ any: Any?) -> Double? {
        switch any {
        case let n as NSNumber: return n.doubleValue
        case let i as Int: return Double(i)
        case let d as Double: return d
        default: return nil
        }
    }
}
