import CloudTrail

// The window store: where the detector's windows live. Each partition holds a `WindowBucket` per
// window start; a bucket finds a grouping key's window through its `KeyIndex` and keeps it in a
// `WindowSlot`, compact (`FirstEvent`) while it has one event, a full `WindowState` after.
// `WindowStore` owns what the windows of every partition share and moves a window between its forms;
// when a window fires or leaves is the operator's business (`WindowedDetector`).

/// What the windows of all partitions share (the string pool, the string and enrichment tables, the
/// count of windows held), and the slot handling: finding an observation's window in its bucket,
/// expanding a compact window, refusing a new one at `maxWindows`, giving back what a leaving
/// bucket held.
struct WindowStore: Sendable {
    var pool = StringPool()
    private(set) var table = StringTable()
    private(set) var enrichments = EnrichmentTable()
    /// (grouping key, window) pairs held over all partitions; at `maxWindows` new ones are refused.
    private(set) var windowCount = 0
    private let maxWindows: Int
    /// A new window stays compact (`FirstEvent`) until its second event: the threshold is above 1.
    private let keepsCompact: Bool
    private let limits: EvidenceLimits
    private let scoring: Bool

    /// Settings copied out of the configuration: reading them through a configuration passed in
    /// made the compiler copy the configuration for each event.
    init(_ configuration: DetectorConfiguration) {
        maxWindows = configuration.maxWindows
        keepsCompact = configuration.rule.threshold > 1
        limits = configuration.evidenceLimits
        scoring = configuration.rule.minimumFidelity != nil
    }

    /// The heap the shared tables hold.
    var estimatedBytes: Int { table.estimatedBytes + enrichments.estimatedBytes }

    /// The full state of the window `o` belongs to in `bucket`, taken out of its slot (left
    /// `.vacant` at `position`; a nil `position`: a new window, not in the bucket yet) and uniquely
    /// referenced; `o` is not added yet. Nil when there is nothing more to do: a new window was kept
    /// compact in the bucket (one event, one address: below any threshold above 1), or refused at
    /// `maxWindows` (`refused` set). The caller puts the box back with `WindowBucket.put` or `append`.
    @inline(__always)
    mutating func take(
        _ o: some ObservationSource, from bucket: inout WindowBucket, position: inout Int32?, refused: inout Bool
    ) -> WindowSlot.Box? {
        func key() -> String { o.string(.groupingKey)! }
        // Found by the key's bytes; the key is made a string only for a new window.
        if var taken = o.withText(.groupingKey, { bucket.take(utf8: $0) })! {
            position = taken.position
            switch taken.slot {
            case .full(var box):
                taken.slot = .vacant
                // The slot was the only other reference: mutate in place unless a copy of the detector shares it.
                if !isKnownUniquelyReferenced(&box) { box = WindowSlot.Box(box.state) }
                return box
            case .single(let first):
                let groupingKey = key()
                let previous = first.observation(key: groupingKey, table: table, enrichments: enrichments)
                first.release(from: &table, enrichments: &enrichments)
                var state = WindowState(previous, key: groupingKey, pool: &pool)
                _ = state.add(previous, limits: limits, scoring: scoring, pool: &pool)
                return WindowSlot.Box(state)
            case .vacant:
                break  // Never found (a slot is vacant only while its box is out): taken as a new window.
            }
        }
        if windowCount >= maxWindows {
            // A new (key, window) at the bound: refused. The windows held keep collecting and alerting.
            refused = true
            return nil
        }
        windowCount += 1
        if keepsCompact {
            // One event, one address: below any threshold, kept compact.
            let first = WindowSlot.single(FirstEvent(o, table: &table, enrichments: &enrichments))
            o.withText(.groupingKey) { bucket.append(utf8: $0, first) }
            return nil
        }
        return WindowSlot.Box(WindowState(o, key: key(), pool: &pool))
    }

    /// Gives back the string-table ids held by the compact windows of a bucket leaving memory.
    mutating func release(_ bucket: WindowBucket) {
        for slot in bucket.slots {
            switch slot {
            case .single(let first):
                first.release(from: &table, enrichments: &enrichments)
                windowCount -= 1
            case .full:
                windowCount -= 1
            case .vacant:
                break
            }
        }
    }
}

/// All windows of one partition that share a start (and so an end): they fire together.
struct WindowBucket: Sendable {
    /// The lowest offset that fed any window here; the partition's safe offset is the minimum of these.
    var firstOffset: Int64
    var fired: Bool
    /// Grouping key -> position in `slots`. Slots never leave one by one (a bucket leaves whole),
    /// so they sit densely in an array and the index holds 4-byte positions.
    private var index = KeyIndex()
    private(set) var slots: [WindowSlot] = []

    init(firstOffset: Int64, fired: Bool) {
        self.firstOffset = firstOffset
        self.fired = fired
    }

    /// The heap it holds for its windows, apart from what an expanded window's box holds: the slots
    /// (a compact window lives in its slot) and the key index with the keys' bytes.
    var estimatedBytes: Int { slots.count * MemoryLayout<WindowSlot>.stride + index.estimatedBytes }

    /// The grouping keys (with their positions) of the slots `include` accepts, sorted as strings (the
    /// order alerts go out in). A string is made only for those.
    func sortedKeys(where include: (WindowSlot) -> Bool) -> [(key: String, position: Int32)] {
        var found: [(key: String, position: Int32)] = []
        for position in slots.indices where include(slots[position]) {
            found.append((index.key(at: Int32(position)), Int32(position)))
        }
        return found.sorted { $0.key < $1.key }
    }

    /// Moves the slot of the key with these UTF-8 bytes out (leaving `.vacant`), so a box it holds
    /// is uniquely referenced by the caller.
    mutating func take(utf8 key: UnsafeBufferPointer<UInt8>) -> (position: Int32, slot: WindowSlot)? {
        index.find(key).map { ($0, take(at: $0)) }
    }

    mutating func take(at position: Int32) -> WindowSlot {
        // Moved out rather than copied and overwritten: no retain and release of the window's box.
        var slot = WindowSlot.vacant
        swap(&slot, &slots[Int(position)])
        return slot
    }

    mutating func put(_ slot: WindowSlot, at position: Int32) {
        slots[Int(position)] = slot
    }

    /// A window for a key the bucket does not hold yet.
    mutating func append(utf8 key: UnsafeBufferPointer<UInt8>, _ slot: WindowSlot) {
        index.append(key)
        slots.append(slot)
    }
}

/// Grouping key -> position, for one bucket. The keys' bytes sit in one arena (no string object per
/// window) and are found by open addressing, so a lookup by the bytes the decoder lends makes and
/// retains nothing. Hashes come from the standard library's per-process seeded `Hasher`: keys are
/// input (session names are chosen by whoever assumes a role), and a crafted set must not be able
/// to collide on purpose.
struct KeyIndex: Sendable {
    /// Position + 1 per table slot, 0 when empty; a power of two long, at most three quarters full.
    private var table: [Int32] = []
    /// Per position: the top 32 bits of the key's hash (most mismatches end there), and its bytes.
    private var entries: [(tag: UInt32, count: UInt32, start: Int)] = []
    private var arena: [UInt8] = []

    var count: Int { entries.count }

    /// The heap it holds: the table (all of it written), the entries and the keys' bytes. Counts, not
    /// capacities: an array's unused tail is never written, so it does not take resident memory.
    var estimatedBytes: Int {
        table.count * MemoryLayout<Int32>.stride + entries.count * MemoryLayout<(tag: UInt32, count: UInt32, start: Int)>.stride
            + arena.count
    }

    private static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(bytes: UnsafeRawBufferPointer(key))
        return UInt64(bitPattern: Int64(hasher.finalize()))
    }

    func find(_ key: UnsafeBufferPointer<UInt8>) -> Int32? {
        guard !table.isEmpty else { return nil }
        let hash = Self.hash(key)
        let tag = UInt32(truncatingIfNeeded: hash >> 32)
        let mask = table.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let stored = table[i]
            if stored == 0 { return nil }
            let entry = entries[Int(stored - 1)]
            if entry.tag == tag, Int(entry.count) == key.count, withBytes(of: entry, { String.compareBytes($0, key) }) == 0 {
                return stored - 1
            }
            i = (i + 1) & mask
        }
    }

    /// Adds a key not held yet, at position `count`.
    mutating func append(_ key: UnsafeBufferPointer<UInt8>) {
        if (entries.count + 1) * 4 > table.count * 3 { grow() }
        let hash = Self.hash(key)
        entries.append((UInt32(truncatingIfNeeded: hash >> 32), UInt32(key.count), arena.count))
        arena.append(contentsOf: key)
        place(Int32(entries.count - 1), hash: hash)
    }

    func key(at position: Int32) -> String {
        withBytes(of: entries[Int(position)]) { String(decoding: $0, as: UTF8.self) }
    }

    private func withBytes<R>(of entry: (tag: UInt32, count: UInt32, start: Int), _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        arena.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[entry.start..<(entry.start + Int(entry.count))])) }
    }

    private mutating func place(_ position: Int32, hash: UInt64) {
        let mask = table.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while table[i] != 0 { i = (i + 1) & mask }
        table[i] = position + 1
    }

    private mutating func grow() {
        table = [Int32](repeating: 0, count: max(8, table.count * 2))
        for position in entries.indices {
            place(Int32(position), hash: withBytes(of: entries[position], Self.hash))
        }
    }
}
/// One (grouping key, window): compact while it has one event, a full `WindowState` after.
enum WindowSlot: Sendable {
    case single(FirstEvent)
    case full(Box)
    /// Momentarily, while the detector holds the slot's box outside the bucket.
    case vacant

    /// Copy-on-write like `SmallDistinct.Box`: mutated only when uniquely referenced.
    final class Box: @unchecked Sendable {
        /// Unchecked exclusivity: the detector's thread reads and changes it in place for every event
        /// of the window, only while uniquely referenced. The run-time check costs on every access and
        /// looks only for overlapping accesses on one thread, and there are none here.
        @exclusivity(unchecked) var state: WindowState
        init(_ state: WindowState) { self.state = state }

        var addressCount: Int { state.addresses.count }

        /// The rule's alert condition over the window's distinct counts. A method of the box, reading
        /// the counts in place: a function taking `state` made the compiler copy the whole window
        /// (retaining and releasing every list) for each event.
        func qualifies(_ rule: RuleConfiguration) -> Bool {
            rule.qualifies(
                addresses: state.addresses.count, networks: state.network?.value.networks.count ?? 0,
                cities: state.network?.value.cities.count ?? 0,
                userAgents: state.userAgents.count, eventSources: state.eventSources.count)
        }
    }

    var addressCount: Int {
        switch self {
        case .single: 1
        case .full(let box): box.state.addressCount
        case .vacant: 0
        }
    }
}
