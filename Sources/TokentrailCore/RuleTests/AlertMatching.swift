/// How a rule test compares the alerts it expects with the alerts the rule produced.
///
/// An expected line names any subset of a record's fields. It **matches** a produced record when
/// every field it names has the same value there: objects are compared field by field, at any
/// depth, so `{"principal": {"arn": "..."}}` checks the ARN alone; arrays and scalars are compared
/// whole (`source_addresses.values` must list exactly the same addresses, in the same order).
/// Each record satisfies at most one line, and lines are assigned to records so that as many
/// lines as possible match (two identical lines need two records). Lines left without a match
/// are paired, for the diff, with the remaining records, the pair that agrees on most fields
/// first; a line that agrees with no remaining record on any field is "missing", records left
/// over are unexpected.
public enum AlertMatching {
    /// One field of an expected line whose value differs from (or is absent in) the record.
    public struct FieldDifference: Sendable, Hashable, CustomStringConvertible {
        /// Dotted path, e.g. `source_addresses.count`.
        public var path: String
        public var expected: JSONValue
        /// Nil: the record has no such field.
        public var got: JSONValue?

        public var description: String {
            "\(path): expected \(expected), got \(got.map(\.description) ?? "(absent)")"
        }
    }

    public struct Result: Sendable {
        /// (expected line index, record index) pairs that match.
        public var matched: [(expected: Int, record: Int)] = []
        /// Lines that matched no record, each with the closest remaining record and how it differs.
        public var mismatched: [(expected: Int, record: Int, differences: [FieldDifference])] = []
        /// Lines that matched no record and agree with no remaining record on any field.
        public var missing: [Int] = []
        /// Records no line accounts for.
        public var unexpected: [Int] = []
    }

    /// The fields of `expected` that `actual` does not have with the same value.
    public static func differences(expected: JSONValue, actual: JSONValue?, path: String = "") -> [FieldDifference] {
        if case .object(let fields) = expected, case .object(let got)? = actual {
            return fields.keys.sorted().flatMap { key in
                differences(expected: fields[key]!, actual: got[key], path: path.isEmpty ? key : "\(path).\(key)")
            }
        }
        if let actual, expected.sameValue(as: actual) { return [] }
        return [FieldDifference(path: path.isEmpty ? "(record)" : path, expected: expected, got: actual)]
    }

    /// Leaf fields an expected line names (what "agrees on most fields" counts).
    static func leafCount(_ value: JSONValue) -> Int {
        if case .object(let fields) = value { return fields.values.reduce(0) { $0 + leafCount($1) } }
        return 1
    }

    public static func match(expected: [JSONValue], records: [JSONValue]) -> Result {
        let diffs = expected.map { e in records.map { differences(expected: e, actual: $0) } }
        // Maximum bipartite matching over exact matches (Kuhn's augmenting paths): the sizes are a
        // test case's handful of alerts.
        var recordOwner = [Int?](repeating: nil, count: records.count)
        func augment(_ e: Int, _ seen: inout [Bool]) -> Bool {
            for r in records.indices where diffs[e][r].isEmpty && !seen[r] {
                seen[r] = true
                if recordOwner[r] == nil || augment(recordOwner[r]!, &seen) {
                    recordOwner[r] = e
                    return true
                }
            }
            return false
        }
        for e in expected.indices {
            var seen = [Bool](repeating: false, count: records.count)
            _ = augment(e, &seen)
        }
        var result = Result()
        var lineMatched = [Bool](repeating: false, count: expected.count)
        for (r, owner) in recordOwner.enumerated() {
            if let e = owner {
                result.matched.append((e, r))
                lineMatched[e] = true
            }
        }
        result.matched.sort { $0.expected < $1.expected }
        // The rest pair by agreement, best pair first (then by line, then by record), so that a
        // diff shows each line against the alert it was most likely meant to describe.
        var freeRecords = Set(records.indices.filter { recordOwner[$0] == nil })
        var freeLines = Set(expected.indices.filter { !lineMatched[$0] })
        let totals = expected.map(leafCount)
        while true {
            var best: (e: Int, r: Int, agree: Int)?
            for e in freeLines.sorted() {
                for r in freeRecords.sorted() {
                    // A difference at an object the record lacks misses every field inside it.
                    let agree = totals[e] - diffs[e][r].reduce(0) { $0 + leafCount($1.expected) }
                    if agree > 0, agree > (best?.agree ?? 0) { best = (e, r, agree) }
                }
            }
            guard let best else { break }
            freeLines.remove(best.e)
            freeRecords.remove(best.r)
            result.mismatched.append((best.e, best.r, diffs[best.e][best.r]))
        }
        result.mismatched.sort { $0.expected < $1.expected }
        result.missing = freeLines.sorted()
        result.unexpected = freeRecords.sorted()
        return result
    }
}
