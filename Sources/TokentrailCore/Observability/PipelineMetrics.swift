import CoreMetrics
public import Enrichment
public import Foundation
public import KafkaClient
public import Pipeline
public import Prometheus
import Synchronization

/// Publishes the pipeline's running totals as Prometheus metrics through swift-metrics.
///
/// The pipeline keeps totals (`PipelineCounters`) on its own thread and hands them over after each
/// commit; this turns them into counter increments (the difference from the previous hand-over),
/// so `rate()` works and nothing on the hot path pays for metrics. The names are in docs/metrics.md.
public final class PipelineMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let state = Mutex<State>(State())

    struct State {
        var previous = PipelineCounters()
        var previousGeoIP = GeoIPEnricher.Statistics()
        var previousExceptionMatches: [String: Int] = [:]
        var previousExceptionsFile = ExceptionsFile.Statistics()
        var counters: [String: CoreMetrics.Counter] = [:]
        /// Per-partition gauges of the partitions owned at the last commit.
        var partitionGauges: [String: CoreMetrics.Gauge] = [:]
    }

    private let ownedPartitions: CoreMetrics.Gauge
    private let lastCommit: CoreMetrics.Gauge
    private let ready: CoreMetrics.Gauge
    private let windows: CoreMetrics.Gauge
    private let expandedWindows: CoreMetrics.Gauge
    private let incidents: CoreMetrics.Gauge
    private let stateBytes: CoreMetrics.Gauge
    private let commitDuration: CoreMetrics.Timer
    private let openAlertLatency: CoreMetrics.Timer

    /// Finer than the default buckets around the half second an open alert should take at most.
    static let openAlertLatencyBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(300),
        .milliseconds(400), .milliseconds(500), .milliseconds(750), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60),
    ]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), version: String, librdkafka: String) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["tokentrail_open_alert_latency_seconds"] = Self.openAlertLatencyBuckets
        self.factory = factory
        ownedPartitions = CoreMetrics.Gauge(label: "tokentrail_owned_partitions", factory: factory)
        lastCommit = CoreMetrics.Gauge(label: "tokentrail_last_commit_timestamp_seconds", factory: factory)
        ready = CoreMetrics.Gauge(label: "tokentrail_ready", factory: factory)
        windows = CoreMetrics.Gauge(label: "tokentrail_windows", factory: factory)
        expandedWindows = CoreMetrics.Gauge(label: "tokentrail_expanded_windows", factory: factory)
        incidents = CoreMetrics.Gauge(label: "tokentrail_incidents", factory: factory)
        stateBytes = CoreMetrics.Gauge(label: "tokentrail_state_bytes_estimate", factory: factory)
        commitDuration = CoreMetrics.Timer(label: "tokentrail_commit_duration_seconds", factory: factory)
        openAlertLatency = CoreMetrics.Timer(label: "tokentrail_open_alert_latency_seconds", factory: factory)
        for g in [windows, expandedWindows, incidents, stateBytes] { g.record(0) }
        CoreMetrics.Gauge(label: "tokentrail_build_info", dimensions: [("version", version), ("librdkafka", librdkafka)], factory: factory).record(1)
        ready.record(0)
        ownedPartitions.record(0)
        // Zero-valued series exist from the start, so that dashboards and alerts see 0, not "no data".
        state.withLock { s in
            for name in Self.plainCounters.map(\.name) { _ = Self.counter(&s, factory, name, []) }
        }
    }

    /// Counters without labels, with where their value comes from.
    static var plainCounters: [(name: String, value: (PipelineCounters) -> Int)] {
        [
        ("tokentrail_records_consumed_total", \.recordsConsumed),
        ("tokentrail_events_decoded_total", \.eventsDecoded),
        ("tokentrail_events_prefiltered_total", \.eventsPrefiltered),
        ("tokentrail_observations_routed_total", \.observationsRouted),
        ("tokentrail_observations_processed_total", \.observationsProcessed),
        ("tokentrail_events_late_total", \.eventsLate),
        ("tokentrail_windows_refused_total", \.windowsRefused),
        ("tokentrail_watermark_markers_sent_total", \.markersSent),
        ("tokentrail_commits_total", \.commits),
        ("tokentrail_transactions_aborted_total", \.transactionsAborted),
        ("tokentrail_rebalances_total", \.rebalances),
        ]
    }

    /// Counters with one label, keyed by that label's value in `PipelineCounters`.
    static var labelledCounters: [(name: String, label: String, value: (PipelineCounters) -> [String: Int])] {
        [
        ("tokentrail_events_rejected_total", "reason", \.eventsRejected),
        ("tokentrail_dead_lettered_total", "reason", \.deadLettered),
        ("tokentrail_watermarks_refused_total", "reason", \.watermarksRefused),
        ("tokentrail_alerts_total", "status", \.alertsProduced),
        ]
    }

    private static func counter(_ s: inout State, _ factory: PrometheusMetricsFactory, _ name: String, _ dims: [(String, String)]) -> CoreMetrics.Counter {
        let key = name + dims.map { "|\($0.0)=\($0.1)" }.joined()
        if let c = s.counters[key] { return c }
        let c = CoreMetrics.Counter(label: name, dimensions: dims, factory: factory)
        s.counters[key] = c
        return c
    }

    /// Call after each commit (the pipeline's `onCommit`): counters, state gauges, per-partition
    /// progress and the commit's duration.
    public func publish(_ snapshot: PipelineSnapshot, at now: Date = Date()) {
        publish(snapshot.counters, ownedPartitions: snapshot.owned, at: now)
        windows.record(snapshot.detector.windows)
        expandedWindows.record(snapshot.detector.expandedWindows)
        incidents.record(snapshot.detector.incidents)
        stateBytes.record(snapshot.detector.estimatedBytes)
        func nanoseconds(_ d: Duration) -> Int64 { d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000 }
        commitDuration.recordNanoseconds(nanoseconds(snapshot.commitDuration))
        for latency in snapshot.openAlertLatencies { openAlertLatency.recordNanoseconds(nanoseconds(latency)) }
        let nowMilliseconds = (now.timeIntervalSince1970 * 1000).rounded(.down)
        var values: [(name: String, dims: [(String, String)], value: Double)] = []
        for p in snapshot.partitions {
            let dims = [("topic", p.partition.topic), ("partition", String(p.partition.partition))]
            if let w = p.watermark { values.append(("tokentrail_partition_watermark_lag_seconds", dims, max(0, (nowMilliseconds - Double(w)) / 1000))) }
            if let lag = p.lag { values.append(("tokentrail_partition_lag_records", dims, Double(lag))) }
        }
        let factory = self.factory
        state.withLock { s in
            var current: [String: CoreMetrics.Gauge] = [:]
            for v in values {
                let key = v.name + v.dims.map { "|\($0.0)=\($0.1)" }.joined()
                let g = s.partitionGauges.removeValue(forKey: key) ?? CoreMetrics.Gauge(label: v.name, dimensions: v.dims, factory: factory)
                g.record(v.value)
                current[key] = g
            }
            // Partitions that left (revoked, lost): their series go, not freeze.
            for g in s.partitionGauges.values { g.destroy() }
            s.partitionGauges = current
        }
    }

    /// The counters part of `publish(_:at:)`.
    public func publish(_ counters: PipelineCounters, ownedPartitions owned: [KafkaTopicPartition], at now: Date = Date()) {
        let factory = self.factory
        state.withLock { s in
            for (name, value) in Self.plainCounters {
                let delta = value(counters) - value(s.previous)
                if delta > 0 { Self.counter(&s, factory, name, []).increment(by: Int64(delta)) }
            }
            for (name, label, value) in Self.labelledCounters {
                let old = value(s.previous)
                for (labelValue, n) in value(counters) {
                    let delta = n - (old[labelValue] ?? 0)
                    if delta > 0 { Self.counter(&s, factory, name, [(label, labelValue)]).increment(by: Int64(delta)) }
                }
            }
            s.previous = counters
        }
        ownedPartitions.record(owned.count)
        lastCommit.record(now.timeIntervalSince1970)
    }

    /// GeoIP counters; they exist (at 0) only once this is first called, i.e. when databases are configured.
    static var geoIPCounters: [(name: String, value: (GeoIPEnricher.Statistics) -> Int)] {
        [
        ("tokentrail_geoip_lookups_total", \.lookups),
        ("tokentrail_geoip_cache_hits_total", \.cacheHits),
        ("tokentrail_geoip_reloads_total", \.reloads),
        ("tokentrail_geoip_reload_failures_total", \.reloadFailures),
        ]
    }

    /// Call with the enricher's running totals (after each commit, like `publish`).
    public func publish(geoIP statistics: GeoIPEnricher.Statistics) {
        let factory = self.factory
        state.withLock { s in
            for (name, value) in Self.geoIPCounters {
                let counter = Self.counter(&s, factory, name, [])
                let delta = value(statistics) - value(s.previousGeoIP)
                if delta > 0 { counter.increment(by: Int64(delta)) }
            }
            s.previousGeoIP = statistics
        }
    }

    /// The exceptions file's counters: matches per exception, reloads and reload failures.
    public func publish(exceptions file: ExceptionsFile) {
        publish(exceptionMatches: file.matchCounts)
        let statistics = file.statistics
        let factory = self.factory
        state.withLock { s in
            for (name, value) in [("tokentrail_exceptions_reloads_total", \ExceptionsFile.Statistics.reloads),
                                  ("tokentrail_exceptions_reload_failures_total", \ExceptionsFile.Statistics.reloadFailures)] {
                let counter = Self.counter(&s, factory, name, [])
                let delta = statistics[keyPath: value] - s.previousExceptionsFile[keyPath: value]
                if delta > 0 { counter.increment(by: Int64(delta)) }
            }
            s.previousExceptionsFile = statistics
        }
    }

    /// `tokentrail_exception_matches_total{exception}` from each exception's running total
    /// (`ExceptionsFile.matchCounts`), after each commit like `publish`. Every name given has a
    /// series from then on, at 0 until it matches, so a team sees an exception that does nothing.
    /// One counter per exception name, made once.
    public func publish(exceptionMatches counts: [String: Int]) {
        let factory = self.factory
        state.withLock { s in
            for (name, n) in counts {
                let counter = Self.counter(&s, factory, "tokentrail_exception_matches_total", [("exception", name)])
                let delta = n - (s.previousExceptionMatches[name] ?? 0)
                if delta > 0 { counter.increment(by: Int64(delta)) }
                s.previousExceptionMatches[name] = n
            }
        }
    }

    /// The swift-metrics factory over this registry, for other publishers (librdkafka statistics).
    var factoryForExtensions: any MetricsFactory { factory }

    public func setReady(_ isReady: Bool) { ready.record(isReady ? 1 : 0) }

    /// The Prometheus text exposition format (version 0.0.4).
    public func render() -> [UInt8] { registry.emitToBuffer() }
}
