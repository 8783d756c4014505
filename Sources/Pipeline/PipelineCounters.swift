/// Running totals the pipeline keeps; the metrics endpoint and the shutdown summary read them.
public struct PipelineCounters: Sendable, Hashable {
    public var recordsConsumed = 0
    public var eventsDecoded = 0
    /// Events dropped by the decoder's pre-filter, unread.
    public var eventsPrefiltered = 0
    /// Events the rule rejected, by reason label.
    public var eventsRejected: [String: Int] = [:]
    public var observationsRouted = 0
    public var observationsProcessed = 0
    public var eventsLate = 0
    public var deadLettered: [String: Int] = [:]
    public var alertsProduced: [String: Int] = [:]
    public var markersSent = 0
    public var commits = 0
    public var rebalances = 0
    public init() {}
}
