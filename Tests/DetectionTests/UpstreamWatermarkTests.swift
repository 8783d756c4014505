import Detection
import Testing

/// The detect watermark from route markers: the rules that make skew exact and idle streams close.
struct UpstreamWatermarkTests {
    let parts = (0..<3).map { WatermarkMarker.upstreamKey(topic: "in", partition: Int32($0)) }

    func marker(_ p: Int32, _ w: Int64?, idle: Bool = false, idleFor: Int64 = 0, wall: Int64 = 1_000_000) -> (String, WatermarkMarker) {
        ("in/\(p)", WatermarkMarker(topic: "in", partition: p, watermark: w, idle: idle, idleMilliseconds: idleFor, wallWatermark: wall))
    }

    func minimum(_ ms: [(String, WatermarkMarker)], emptyTimeout: Int64 = 300_000) -> Int64? {
        UpstreamWatermark.minimum(Dictionary(uniqueKeysWithValues: ms), over: parts, emptyPartitionTimeout: emptyTimeout)
    }

    @Test func minimumOfActivePartitions() {
        #expect(minimum([marker(0, 500), marker(1, 300), marker(2, 700)]) == 300)
    }

    @Test func aPartitionWithoutAMarkerHoldsTheWatermark() {
        #expect(minimum([marker(0, 500), marker(1, 300)]) == nil)
    }

    @Test func aNeverSeenIdlePartitionHoldsWhileOthersAreActive() {
        // Skew: partition 0 is being read, 1 and 2 are empty so far; their first events may be old.
        #expect(minimum([marker(0, 500), marker(1, nil, idle: true, idleFor: 5_000), marker(2, nil, idle: true, idleFor: 5_000)]) == nil)
    }

    @Test func everythingIdleFollowsTheWallClock() {
        #expect(minimum([marker(0, 500, idle: true, idleFor: 40_000), marker(1, nil, idle: true), marker(2, nil, idle: true)]) == 1_000_000)
    }

    @Test func nothingMovesBeforeTheFirstEventAnywhere() {
        // tokentrail started before a backfill: idle empty partitions must not jump to the wall clock.
        #expect(minimum([marker(0, nil, idle: true, idleFor: 900_000), marker(1, nil, idle: true, idleFor: 900_000),
                         marker(2, nil, idle: true, idleFor: 900_000)]) == nil)
    }

    @Test func anIdlePartitionThatSawEventsFollowsTheWallClockAlone() {
        #expect(minimum([marker(0, 500, idle: true, idleFor: 40_000), marker(1, 300), marker(2, 700)]) == 300)
        #expect(minimum([marker(0, 100, idle: true, idleFor: 40_000, wall: 200), marker(1, 300), marker(2, 700)]) == 200)
    }

    @Test func aPartitionThatNeverGetsDataStopsHoldingAfterTheEmptyTimeout() {
        #expect(minimum([marker(0, 500), marker(1, 300), marker(2, nil, idle: true, idleFor: 299_999)]) == nil)
        #expect(minimum([marker(0, 500), marker(1, 300), marker(2, nil, idle: true, idleFor: 300_000)]) == 300)
    }
}

/// The empty-partition timeout: its own setting, ten idle timeouts by default.
struct EmptyPartitionTimeoutTests {
    @Test func defaultsToTenIdleTimeoutsAndCanBeSetOnItsOwn() {
        var c = DetectorConfiguration()
        #expect(c.effectiveEmptyPartitionTimeout == .seconds(300))
        c.idleTimeout = .seconds(3)
        #expect(c.effectiveEmptyPartitionTimeout == .seconds(30))
        c.emptyPartitionTimeout = .seconds(7)
        #expect(c.effectiveEmptyPartitionTimeout == .seconds(7))
        c.emptyPartitionTimeout = nil
        c.idleTimeout = nil
        #expect(c.effectiveEmptyPartitionTimeout == .seconds(300))
    }
}
