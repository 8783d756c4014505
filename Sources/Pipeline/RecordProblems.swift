import CloudTrail

/// Everything wrong with one input record, summed up for its one dead letter: a `Records` batch of
/// 200,000 bad members makes one dead-letter record (with the count per reason and the first
/// member indexes), not 200,000 copies of itself.
struct RecordProblems {
    /// Reason -> how many members (or the whole record: 1) failed for it.
    private(set) var counts: [String: Int] = [:]
    /// The first problem: its reason and detail head the dead letter (`tokentrail.error`).
    private(set) var first: (reason: String, detail: String, index: Int?)?
    /// Batch member indexes of the first `maxIndexes` problems that have one.
    private(set) var indexes: [Int] = []
    static let maxIndexes = 20
    static let eventTimeInFuture = "event_time_in_future"

    init() {}

    init(errors: [CloudTrailDecodingError], futureEvents: Int, maxFutureSkew: Duration) {
        for e in errors { add(reason: e.reason.rawValue, detail: e.description, index: e.recordIndex) }
        if futureEvents > 0 {
            add(reason: Self.eventTimeInFuture, detail: "eventTime more than \(maxFutureSkew) ahead of the wall clock (time.max_future_skew)",
                index: nil, count: futureEvents)
        }
    }

    mutating func add(reason: String, detail: String, index: Int?, count: Int = 1) {
        counts[reason, default: 0] += count
        if first == nil { first = (reason, detail, index) }
        if let index, indexes.count < Self.maxIndexes { indexes.append(index) }
    }

    var isEmpty: Bool { first == nil }
    var total: Int { counts.values.reduce(0, +) }

    /// `not_json=2,wrong_type=1`: reasons in name order.
    var summary: String { counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }
}
