import CloudTrail

/// A value that evidence lists can keep: a total order (which values are kept is then independent
/// of arrival order, so replays and batch recomputations agree) and a stable 64-bit fingerprint.
protocol EvidenceValue: Equatable, Sendable {
    /// Negative, zero or positive as `a` sorts before, is the same as, or sorts after `b`. Zero is
    /// the lists' equality: for text, equal bytes.
    static func compare(_ a: Self, _ b: Self) -> Int
    /// Equal values give equal fingerprints in every process (no per-process hash seed).
    var fingerprint: UInt64 { get }
}

extension EvidenceValue {
    static func precedes(_ a: Self, _ b: Self) -> Bool { compare(a, b) < 0 }
}

/// What an evidence list compares with its kept values when inserting: a value (`ValueProbe`), or
/// text lent in place as UTF-8 bytes (`TextProbe`), so that a value the list already holds, the
/// common case, is found without making it.
protocol EvidenceProbe<Value> {
    associatedtype Value: EvidenceValue
    /// As `Value.compare(probe, value)`.
    func compare(to value: Value) -> Int
    /// The fingerprint of the value the probe stands for.
    var fingerprint: UInt64 { get }
}

struct ValueProbe<Value: EvidenceValue>: EvidenceProbe {
    let value: Value
    init(_ value: Value) { self.value = value }
    @inline(__always) func compare(to other: Value) -> Int { Value.compare(value, other) }
    var fingerprint: UInt64 { value.fingerprint }
}

/// Text lent as UTF-8 bytes (a field of the event being processed): valid only while they are.
struct TextProbe: EvidenceProbe {
    let bytes: UnsafeBufferPointer<UInt8>
    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    @inline(__always) func compare(to value: String) -> Int {
        value.withUTF8Bytes { String.compareBytes(bytes, $0) }
    }

    var fingerprint: UInt64 { String.fingerprint(bytes) }
    var string: String { String(decoding: bytes, as: UTF8.self) }
}

extension String: EvidenceValue {
    /// Byte order of the UTF-8 forms (`a.utf8.lexicographicallyPrecedes(b.utf8)`), compared eight
    /// bytes at a time in place, and byte equality: two spellings `String` calls equal (canonically
    /// equivalent) are two values here, as they are two fingerprints.
    static func compare(_ a: String, _ b: String) -> Int {
        a.withUTF8Bytes { x in b.withUTF8Bytes { y in compareBytes(x, y) } }
    }

    /// `body` over the UTF-8 bytes in place (a native or small string); a copy only otherwise.
    @inline(__always)
    func withUTF8Bytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let result = utf8.withContiguousStorageIfAvailable(body) { return result }
        var copy = self
        return copy.withUTF8(body)
    }

    /// Negative, zero or positive as `a` sorts before, equal to or after `b`, byte by byte (unsigned),
    /// a proper prefix first.
    static func compareBytes(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
        let n = Swift.min(a.count, b.count)
        if n > 0, let pa = a.baseAddress, let pb = b.baseAddress {
            var i = 0
            while i + 8 <= n {
                // Big-endian words compare as their bytes do, first byte most significant.
                let x = UInt64(bigEndian: UnsafeRawPointer(pa + i).loadUnaligned(as: UInt64.self))
                let y = UInt64(bigEndian: UnsafeRawPointer(pb + i).loadUnaligned(as: UInt64.self))
                if x != y { return x < y ? -1 : 1 }
                i += 8
            }
            while i < n {
                if pa[i] != pb[i] { return pa[i] < pb[i] ? -1 : 1 }
                i += 1
            }
        }
        return a.count < b.count ? -1 : (a.count == b.count ? 0 : 1)
    }

    /// FNV-1a, 64 bit, of the UTF-8 bytes.
    var fingerprint: UInt64 { withUTF8Bytes(Self.fingerprint) }

    static func fingerprint(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }
}

extension SourceAddress: EvidenceValue {
    /// IPv4 before IPv6, each in numeric order.
    static func compare(_ a: SourceAddress, _ b: SourceAddress) -> Int {
        let (x, y) = (a.sortKey, b.sortKey)
        return x < y ? -1 : (x == y ? 0 : 1)
    }

    /// Exact for IPv4 and for IPv6 /64 prefixes; a mixed 64-bit hash for full IPv6 addresses
    /// (a collision among a million addresses has odds of about 3 in 10^8).
    var fingerprint: UInt64 {
        switch self {
        case .ipv4(let v): return 1 << 63 | UInt64(v)
        case .ipv6(let high, 0): return Self.mix(high) & ~(1 << 63)
        case .ipv6(let high, let low): return Self.mix(high ^ Self.mix(low)) & ~(1 << 63) | 1
        case .notAnAddress: return 0
        }
    }

    var sortKey: (UInt8, UInt64, UInt64) {
        switch self {
        case .ipv4(let v): (4, 0, UInt64(v))
        case .ipv6(let high, let low): (6, high, low)
        case .notAnAddress: (0, 0, 0)
        }
    }

    /// splitmix64 finaliser.
    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The `limit` smallest distinct values, sorted, plus fingerprints of every other distinct value
/// seen, so that `count` stays exact while memory stays bounded by `trackLimit` fingerprints.
struct BoundedDistinct<Value: EvidenceValue>: Sendable {
    private(set) var kept: [Value] = []
    private(set) var others: Set<UInt64> = []
    /// True once `trackLimit` was reached: `count` is then a lower bound.
    private(set) var saturated = false

    var count: Int { kept.count + others.count }

    init() {}

    /// Where the probe's value is (`found`) or would go in `sorted`: the first index whose value
    /// does not precede it.
    @inline(__always)
    static func position<P: EvidenceProbe<Value>>(of probe: P, in sorted: [Value]) -> (index: Int, found: Bool) {
        var low = 0
        var high = sorted.count
        while low < high {
            let mid = (low + high) / 2
            let order = probe.compare(to: sorted[mid])
            if order > 0 {
                low = mid + 1
            } else if order < 0 {
                high = mid
            } else {
                return (mid, true)
            }
        }
        return (low, false)
    }

    /// Starts from values already sorted and distinct (at most the limit the caller will use).
    init(sorted kept: [Value]) { self.kept = kept }

    /// Returns true when `value` was not seen before (as far as fingerprints can tell).
    mutating func insert(_ value: Value, limit: Int, trackLimit: Int) -> Bool {
        insert(ValueProbe(value), limit: limit, trackLimit: trackLimit, storing: { $0.value })
    }

    /// As `insert(_:limit:trackLimit:)` for the value `probe` stands for; `storing` makes the copy
    /// to keep and is called only when the value is about to be kept (so a repeat, or a value past
    /// the limit, is never made, and a string pool's lookup costs nothing for them).
    @inline(__always)
    mutating func insert<P: EvidenceProbe<Value>>(
        _ probe: P, limit: Int, trackLimit: Int, storing: (P) -> Value
    ) -> Bool {
        let n = kept.count
        // Full, and after the largest kept value: the common case of a sample (event ids) or of a
        // list at its limit settles with one comparison and no search.
        if n > 0, n >= limit, probe.compare(to: kept[n - 1]) > 0 {
            let fingerprint = probe.fingerprint
            if !others.isEmpty, others.contains(fingerprint) { return false }
            guard others.count < trackLimit else {
                saturated = true
                return false
            }
            others.insert(fingerprint)
            return true
        }
        let (low, found) = Self.position(of: probe, in: kept)
        if found { return false }
        if !others.isEmpty, others.contains(probe.fingerprint) { return false }
        if n < limit {
            kept.insert(storing(probe), at: low)
            return true
        }
        // Full: a smaller value still displaces the largest kept one, so what is kept never depends
        // on arrival order; only the remembering of the rest stops at `trackLimit`.
        let tracking = others.count < trackLimit
        if !tracking { saturated = true }
        if low < n {
            let evicted = kept.removeLast()
            kept.insert(storing(probe), at: low)
            if tracking { others.insert(evicted.fingerprint) }
            return true
        }
        guard tracking else { return false }  // limit 0: nothing is kept
        others.insert(probe.fingerprint)
        return true
    }
}

/// One value inline (the common case: a window with one address, one key, one user agent), a
/// shared copy-on-write box past that: a one-event window allocates nothing here.
enum SmallDistinct<Value: EvidenceValue>: Sendable {
    case empty
    case one(Value)
    /// Two or more values, sorted and distinct, fewer than or as many as the limit, none forgotten:
    /// the common case past one value (a handful of user agents, event names, ...) costs one
    /// array buffer, so a lookup touches one heap block rather than a box and then its array.
    case few([Value])
    /// At the limit: the bounded set that also fingerprints what it does not keep.
    case many(Box)

    /// Safe to share across threads because it is copy-on-write: `insert` mutates a box only when
    /// `isKnownUniquelyReferenced` says no other copy of the enclosing value can see it (the same
    /// discipline as the standard library's collections); a shared box is copied first.
    final class Box: @unchecked Sendable {
        /// Unchecked exclusivity, as `WindowSlot.Box.state`.
        @exclusivity(unchecked) var set: BoundedDistinct<Value>
        init(_ set: BoundedDistinct<Value>) { self.set = set }
    }

    var count: Int {
        switch self {
        case .empty: 0
        case .one: 1
        case .few(let values): values.count
        case .many(let box): box.set.count
        }
    }

    var isSaturated: Bool {
        if case .many(let box) = self { return box.set.saturated }
        return false
    }

    /// Kept values, sorted.
    var values: [Value] {
        switch self {
        case .empty: []
        case .one(let v): [v]
        case .few(let values): values
        case .many(let box): box.set.kept
        }
    }

    @discardableResult
    mutating func insert(_ value: Value, limit: Int, trackLimit: Int) -> Bool {
        insert(ValueProbe(value), limit: limit, trackLimit: trackLimit, storing: { $0.value })
    }

    /// `storing` makes the copy to keep; it is called only when the value is about to be kept.
    @discardableResult @inline(__always)
    mutating func insert<P: EvidenceProbe<Value>>(
        _ probe: P, limit: Int, trackLimit: Int, storing: (P) -> Value
    ) -> Bool {
        switch self {
        case .empty:
            guard limit > 0 else { return false }
            self = .one(storing(probe))
            return true
        case .one(let existing):
            let order = probe.compare(to: existing)
            if order == 0 { return false }
            guard limit >= 2 else { return promote([existing], probe, limit, trackLimit, storing) }
            let value = storing(probe)
            self = order < 0 ? .few([value, existing]) : .few([existing, value])
            return true
        case .few(var values):
            let (low, found) = BoundedDistinct<Value>.position(of: probe, in: values)
            if found { return false }
            guard values.count < limit else { return promote(values, probe, limit, trackLimit, storing) }
            self = .empty  // the array is now uniquely referenced (unless a copy of the window shares it)
            values.insert(storing(probe), at: low)
            self = .few(values)
            return true
        case .many(var box):
            self = .empty
            if !isKnownUniquelyReferenced(&box) { box = Box(box.set) }
            let added = box.set.insert(probe, limit: limit, trackLimit: trackLimit, storing: storing)
            self = .many(box)
            return added
        }
    }

    /// At the limit: from here on, the bounded set decides (and fingerprints what it drops).
    private mutating func promote<P: EvidenceProbe<Value>>(
        _ kept: [Value], _ probe: P, _ limit: Int, _ trackLimit: Int, _ storing: (P) -> Value
    ) -> Bool {
        var set = BoundedDistinct(sorted: kept)
        let added = set.insert(probe, limit: limit, trackLimit: trackLimit, storing: storing)
        self = .many(Box(set))
        return added
    }

    mutating func insert(_ value: Value?, limit: Int, trackLimit: Int) {
        if let value { insert(value, limit: limit, trackLimit: trackLimit) }
    }
}

extension SmallDistinct where Value == String {
    /// Inserts the pool's shared copy of `value`, looking it up only when it is about to be kept.
    mutating func insert(_ value: String?, limit: Int, trackLimit: Int, pool: inout StringPool) {
        guard let value else { return }
        insert(ValueProbe(value), limit: limit, trackLimit: trackLimit, storing: { pool.intern($0.value) })
    }

    /// Inserts text lent as UTF-8 bytes, compared in place: a string is made only to be kept (the
    /// pool's shared copy).
    @inline(__always)
    mutating func insert(utf8 bytes: UnsafeBufferPointer<UInt8>, limit: Int, trackLimit: Int, pool: inout StringPool) {
        insert(TextProbe(bytes), limit: limit, trackLimit: trackLimit, storing: { pool.intern(utf8: $0.bytes) })
    }
}

/// Offsets of one input partition that fed a window: the pivot back to raw records.
public struct OriginRange: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var firstOffset: Int64
    public var lastOffset: Int64

    public init(topic: String, partition: Int32, firstOffset: Int64, lastOffset: Int64) {
        self.topic = topic
        self.partition = partition
        self.firstOffset = firstOffset
        self.lastOffset = lastOffset
    }

    static func precedes(_ a: OriginRange, _ b: OriginRange) -> Bool {
        if a.topic != b.topic { return String.precedes(a.topic, b.topic) }
        return a.partition < b.partition
    }
}

/// Offset ranges per (topic, partition), the `limit` smallest kept; those past it are only counted.
enum SmallOrigins: Sendable {
    case one(OriginRange)
    case many(Box)

    /// Copy-on-write like `SmallDistinct.Box`, and safe to share for the same reason.
    final class Box: @unchecked Sendable {
        var kept: [OriginRange]
        var others: Set<UInt64>
        init(kept: [OriginRange], others: Set<UInt64>) {
            self.kept = kept
            self.others = others
        }
    }

    var values: [OriginRange] {
        switch self {
        case .one(let r): [r]
        case .many(let box): box.kept
        }
    }

    var count: Int {
        switch self {
        case .one: 1
        case .many(let box): box.kept.count + box.others.count
        }
    }

    /// Stands in while a box is changed (so that it is uniquely referenced): holds nothing to retain.
    private static let placeholder = SmallOrigins.one(OriginRange(topic: "", partition: 0, firstOffset: 0, lastOffset: 0))

    mutating func insert(_ origin: EventOrigin, limit: Int) {
        switch self {
        case .one(var r):
            if r.partition == origin.partition, r.topic == origin.topic {
                r.firstOffset = min(r.firstOffset, origin.offset)
                r.lastOffset = max(r.lastOffset, origin.offset)
                self = .one(r)
            } else {
                self = .many(Box(kept: [r], others: []))
                insert(origin, limit: limit)
            }
        case .many(var box):
            self = Self.placeholder
            if !isKnownUniquelyReferenced(&box) { box = Box(kept: box.kept, others: box.others) }
            // The partition first: a cheap test that mostly decides.
            if let i = box.kept.firstIndex(where: { $0.partition == origin.partition && $0.topic == origin.topic }) {
                box.kept[i].firstOffset = min(box.kept[i].firstOffset, origin.offset)
                box.kept[i].lastOffset = max(box.kept[i].lastOffset, origin.offset)
            } else {
                let range = OriginRange(topic: origin.topic, partition: origin.partition,
                                        firstOffset: origin.offset, lastOffset: origin.offset)
                let fingerprint = "\(origin.topic)#\(origin.partition)".fingerprint
                if !box.others.contains(fingerprint) {
                    let at = box.kept.firstIndex(where: { OriginRange.precedes(range, $0) }) ?? box.kept.count
                    if box.kept.count < max(1, limit) {
                        box.kept.insert(range, at: at)
                    } else if at < box.kept.count {
                        let evicted = box.kept.removeLast()
                        box.others.insert("\(evicted.topic)#\(evicted.partition)".fingerprint)
                        box.kept.insert(range, at: at)
                    } else {
                        box.others.insert(fingerprint)
                    }
                }
            }
            self = .many(box)
        }
    }
}
