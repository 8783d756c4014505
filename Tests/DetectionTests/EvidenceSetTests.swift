import CloudTrail
import Testing

@testable import Detection

/// The evidence lists of a window (`SmallDistinct`, and `BoundedDistinct` past its limit) against a
/// plain model: the `limit` smallest distinct values in byte order, and the exact distinct count
/// while it is tracked. Whatever the arrival order, the list must be the same.
@Suite("Evidence sets")
struct EvidenceSetTests {
    /// Values that share long prefixes and differ in length, so both the eight-byte and the tail
    /// comparisons decide, with repeats.
    static func values(_ count: Int, distinct: Int, seed: UInt64) -> [String] {
        var random = SeededRandom(seed: seed)
        let stems = ["", "GetObject", "GetObjectAcl", "s3.amazonaws.com", "arn:aws:iam::123456789012:role/r"]
        return (0..<count).map { _ in
            let n = Int(random.next() % UInt64(distinct))
            return stems[n % stems.count] + String(n, radix: 7)
        }
    }

    static func expected(_ values: [String], limit: Int) -> (kept: [String], count: Int) {
        let distinct = Set(values).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return (Array(distinct.prefix(limit)), distinct.count)
    }

    @Test(arguments: [0, 1, 2, 3, 10, 50])
    func keepsTheSmallestValuesAndCountsEveryDistinctOne(limit: Int) {
        for (seed, distinct) in [(1, 1), (2, 2), (3, 9), (4, 40), (5, 400)] as [(UInt64, Int)] {
            let input = Self.values(600, distinct: distinct, seed: seed)
            let (kept, count) = Self.expected(input, limit: limit)
            var pool = StringPool()
            var pooled = SmallDistinct<String>.empty
            var plain = SmallDistinct<String>.empty
            // As the detector inserts event fields: their bytes, compared in place.
            var lent = SmallDistinct<String>.empty
            var newOnes = 0
            for value in input {
                pooled.insert(value, limit: limit, trackLimit: 1_000_000, pool: &pool)
                if plain.insert(value, limit: limit, trackLimit: 1_000_000) { newOnes += 1 }
                var bytes = value
                bytes.withUTF8 { lent.insert(utf8: $0, limit: limit, trackLimit: 1_000_000, pool: &pool) }
            }
            #expect(lent.values == kept, "limit \(limit), \(distinct) distinct")
            #expect(lent.count == plain.count)
            #expect(pooled.values == kept, "limit \(limit), \(distinct) distinct")
            #expect(plain.values == kept, "limit \(limit), \(distinct) distinct")
            #expect(plain.count == (limit == 0 ? 0 : count), "limit \(limit), \(distinct) distinct")
            #expect(pooled.count == plain.count)
            #expect(newOnes == plain.count, "insert says true exactly once per distinct value")
            #expect(!plain.isSaturated)

            // Another arrival order gives the same list.
            var reversed = SmallDistinct<String>.empty
            for value in input.reversed() { reversed.insert(value, limit: limit, trackLimit: 1_000_000) }
            #expect(reversed.values == kept)
        }
    }

    /// Event ids and access key ids are kept packed (`CompactText`): they must sort and count as
    /// their text does, whether both values are packed, one is, or neither.
    @Test(arguments: [1, 3, 10])
    func packedIdentifiersKeepTheOrderOfTheirText(limit: Int) {
        var random = SeededRandom(seed: UInt64(limit))
        let hex = Array("0123456789abcdef")
        let keyCharacters = Array("0123456789AZQ")
        func uuid() -> String {
            let digits = (0..<32).map { _ in hex[Int(random.next() % 16)] }
            return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(digits[$0]) }.joined(separator: "-")
        }
        func key() -> String {
            String((0..<Int(random.next() % 21)).map { _ in keyCharacters[Int(random.next() % UInt64(keyCharacters.count))] })
        }
        let others = ["", "evt-1", "ASIA", "ASIA0", "ASIA9", "ASIAA", "asia", "\u{E9}", "0", "9", "A", "Z",
                      "0b6e7f9a-2f4c-4d67-9a55-8f1e3c2b7a1", "0B6E7F9A-2F4C-4D67-9A55-8F1E3C2B7A10", "ASIAEXAMPLEKEY0000012"]
        for round in 0..<20 {
            let input = (0..<60).map { _ in
                switch random.next() % 3 {
                case 0: uuid()
                case 1: key()
                default: others[Int(random.next() % UInt64(others.count))]
                }
            }
            let model = Set(input).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            var lent = SmallDistinct<CompactText>.empty
            var made = SmallDistinct<CompactText>.empty
            for text in input + input.reversed() {
                var bytes = text
                bytes.withUTF8 { lent.insert(CompactProbe($0), limit: limit, trackLimit: 1_000, storing: \.value) }
                made.insert(CompactText(text), limit: limit, trackLimit: 1_000)
            }
            #expect(lent.values.map(\.string) == Array(model.prefix(limit)), "round \(round)")
            #expect(made.values.map(\.string) == Array(model.prefix(limit)), "round \(round)")
            #expect(lent.count == model.count && made.count == model.count)
        }
    }

    /// Text is evidence as CloudTrail wrote it: two spellings `String` calls equal (canonically
    /// equivalent) are two values, as they are two fingerprints past the limit.
    @Test func canonicallyEqualSpellingsAreTwoValues() {
        let spellings = ["Caf\u{E9}", "Cafe\u{301}"]
        #expect(spellings[0] == spellings[1], "the same String")
        for limit in [1, 2, 5] {
            var values = SmallDistinct<String>.empty
            var lent = SmallDistinct<String>.empty
            var pool = StringPool()
            for text in spellings + spellings {
                values.insert(text, limit: limit, trackLimit: 10)
                var bytes = text
                bytes.withUTF8 { lent.insert(utf8: $0, limit: limit, trackLimit: 10, pool: &pool) }
            }
            #expect(values.count == 2, "limit \(limit)")
            #expect(lent.count == 2, "limit \(limit)")
            #expect(lent.values == values.values)
        }
    }

    /// Windows keep one copy of a repeated long text (a million windows' event names would otherwise
    /// each hold their own), found from lent bytes without making a string first.
    @Test func thePoolSharesOneCopyOfEachLongText() {
        var pool = StringPool()
        func lent(_ text: String) -> String {
            var bytes = text
            return bytes.withUTF8 { pool.intern(utf8: $0) }
        }
        func storage(_ s: String) -> UnsafeRawPointer? { s.utf8.withContiguousStorageIfAvailable { UnsafeRawPointer($0.baseAddress) } ?? nil }
        let first = lent("DescribeInstances"), again = lent("DescribeInstances"), other = lent("DescribeInstancez")
        #expect(first == "DescribeInstances" && again == first && other == "DescribeInstancez")
        #expect(storage(first) == storage(again), "one copy")
        #expect(storage(other) != storage(first))
        #expect(storage(pool.intern(["Describe", "Instances"].joined())) == storage(first),
                "a string made elsewhere finds the same copy")
        #expect(lent("ListBuckets") == "ListBuckets", "short texts are inline")
    }

    @Test func pastTheTrackingLimitTheCountStopsAndSaysSo() {
        // A sample (as event ids are kept): nothing remembered past the kept values.
        let input = Self.values(500, distinct: 300, seed: 9)
        let (kept, count) = Self.expected(input, limit: 10)
        var sample = SmallDistinct<String>.empty
        for value in input { sample.insert(value, limit: 10, trackLimit: 0) }
        #expect(sample.values == kept)
        #expect(sample.count == 10)
        #expect(sample.isSaturated)
        #expect(count > 10)

        var bounded = SmallDistinct<String>.empty
        for value in input { bounded.insert(value, limit: 5, trackLimit: 20) }
        #expect(bounded.values == Array(kept.prefix(5)))
        #expect(bounded.count == 25)
        #expect(bounded.isSaturated)
    }

    @Test func aCopyOfAWindowIsNotChangedByTheOriginal() {
        var original = SmallDistinct<String>.empty
        for value in ["b", "a"] { original.insert(value, limit: 3, trackLimit: 10) }
        let few = original
        original.insert("c", limit: 3, trackLimit: 10)
        let full = original
        original.insert("0", limit: 3, trackLimit: 10)
        #expect(few.values == ["a", "b"])
        #expect(full.values == ["a", "b", "c"])
        #expect(original.values == ["0", "a", "b"])
        #expect(full.count == 3 && original.count == 4)
    }
}
