import CloudTrail
import Testing
@testable import Simulation

@Suite struct GeneratorTests {
    @Test func sameSeedSameBytesOtherSeedOtherBytes() throws {
        let again = Array(try TrafficGenerator(Sample.configuration()).prefix(500))
        #expect(again.map(\.json) == Sample.events.prefix(500).map(\.json))
        #expect(again.map(\.partition) == Sample.events.prefix(500).map(\.partition))
        let other = Array(try TrafficGenerator(Sample.configuration(seed: 8)).prefix(500))
        #expect(other.map(\.json) != again.map(\.json))
    }

    @Test func exactlyTheRequestedEventsWithUniqueIDs() {
        #expect(Sample.events.count == 4000)
        #expect(Set(Sample.events.map(\.eventID)).count == 4000)
        #expect(Sample.events.map(\.ordinal) == Array(0..<4000))
    }

    @Test func oracleIsExactlyTheInjectedAttacks() {
        let attacks = Sample.generator.injectedAttacks
        #expect(attacks.count == 12)
        #expect(Set(attacks.map { [$0.principalArn, "\($0.windowStart)"] }).count == 12)
        for attack in attacks { #expect((2...5).contains(attack.sourceAddresses.count)) }
        #expect(attacks.contains { $0.sourceAddresses.contains { $0.contains(":") } }, "some attacks come from IPv6")
        let oracle = ExpectedAlerts.compute(Sample.events)
        #expect(oracle == attacks.map(ExpectedAlert.init).sorted())
        // The planning pass (no JSON) agrees with the pass over rendered events.
        #expect(Sample.generator.expectedAlerts() == oracle)
    }

    @Test func noiseWouldAlertWithoutTheFilterButNeverDoes() {
        let alerted = Set(Sample.generator.expectedAlerts().map(\.principalArn))
        // Raw distinct `sourceIPAddress` texts per (principal or event id, window), by category.
        var raw: [TrafficCategory: [String: Set<String>]] = [:]
        for e in Sample.events {
            raw[e.category, default: [:]]["\(e.principalArn ?? e.fields.principalId ?? e.eventID)|\(e.windowStart)", default: []]
                .insert(e.fields.sourceIPAddress)
            if !e.category.mayAlert, let arn = e.principalArn { #expect(!alerted.contains(arn), "\(e.category) alerted: \(arn)") }
        }
        for category in [TrafficCategory.longTermKey, .serviceCaller, .automation, .otherIdentityType, .missingArn] {
            let widest = raw[category]?.values.map(\.count).max() ?? 0
            #expect(widest >= 3, "\(category) never comes from several addresses in a window, so it tests nothing")
        }
    }

    @Test func nearMissesStraddleABoundaryAndNeverAlert() {
        let misses = Sample.generator.nearMisses
        #expect(misses.count == 10)
        let alerted = Set(Sample.generator.expectedAlerts().map(\.principalArn))
        for miss in misses {
            let own = Sample.events.filter { $0.principalArn == miss.principalArn }
            let b = miss.boundary.millisecondsSinceEpoch
            #expect(b % ExpectedAlerts.windowMilliseconds == 0)
            let before = Set(own.filter { $0.eventTime.millisecondsSinceEpoch < b }.map(\.fields.sourceIPAddress))
            let after = Set(own.filter { $0.eventTime.millisecondsSinceEpoch >= b }.map(\.fields.sourceIPAddress))
            #expect(before.count == 1 && after.count == 1 && before != after)
            #expect(own.contains { $0.eventTime.millisecondsSinceEpoch == b - 1000 })
            #expect(own.contains { [b, b + 1000].contains($0.eventTime.millisecondsSinceEpoch) })
            #expect(own.allSatisfy { abs($0.eventTime.millisecondsSinceEpoch - b) <= 600_000 })
            #expect(!alerted.contains(miss.principalArn))
        }
    }

    @Test func disorderWithinEachPartitionIsBounded() {
        let c = Sample.generator.configuration
        let bound = c.maxDisorder.components.seconds * 1000
        var newest = [Int64](repeating: .min, count: c.partitions)
        var worst: Int64 = 0
        for e in Sample.events {
            let t = e.eventTime.millisecondsSinceEpoch
            #expect(t >= c.start.millisecondsSinceEpoch && t < c.start.millisecondsSinceEpoch + c.duration.components.seconds * 1000)
            #expect(t % 1000 == 0)
            if newest[e.partition] != .min { worst = max(worst, newest[e.partition] - t) }
            newest[e.partition] = max(newest[e.partition], t)
        }
        #expect(worst <= bound)
        #expect(worst > bound / 2, "the events are hardly out of order: the bound is not exercised")
    }

    @Test func averageEventSizeIsRealistic() {
        let average = Double(Sample.events.reduce(0) { $0 + $1.json.count }) / Double(Sample.events.count)
        #expect(average >= 1000 && average <= 1500, "average \(average) bytes")
    }

    @Test func partitionsByEventIDOrByPrincipal() throws {
        let c = Sample.generator.configuration
        let used = Set(Sample.events.map(\.partition))
        #expect(used == Set(0..<c.partitions))
        // Unkeyed: one principal spreads over partitions.
        let spread = Dictionary(grouping: Sample.events.filter { $0.principalArn != nil }, by: { $0.principalArn! })
            .values.map { Set($0.map(\.partition)).count }.max() ?? 0
        #expect(spread == c.partitions)
        let keyed = Array(try TrafficGenerator(Sample.configuration(keyed: true)))
        for (_, events) in Dictionary(grouping: keyed.filter { $0.principalArn != nil }, by: { $0.principalArn! }) {
            #expect(Set(events.map(\.partition)).count == 1)
        }
        #expect(Set(keyed.map(\.partition)) == Set(0..<c.partitions))
    }

    @Test func onePartitionIsTheFilteredWholeStream() {
        let part = Array(Sample.generator.events(inPartition: 2))
        #expect(part.map(\.eventID) == Sample.events.filter { $0.partition == 2 }.map(\.eventID))
        #expect(part.map(\.json) == Sample.events.filter { $0.partition == 2 }.map(\.json))
    }

    @Test func impossibleConfigurationsAreRejected() {
        var c = Sample.configuration()
        c.attackCount = 10_000
        #expect(throws: SimulationError.self) { try TrafficGenerator(c) }
        c = Sample.configuration()
        c.duration = .seconds(20 * 60)
        #expect(throws: SimulationError.self) { try TrafficGenerator(c) }
        c = Sample.configuration()
        c.eventCount = 20
        #expect(throws: SimulationError.self) { try TrafficGenerator(c) }
        c = Sample.configuration()
        c.partitions = 0
        #expect(throws: SimulationError.self) { try TrafficGenerator(c) }
    }
}

/// Larger runs through the planning pass only (no JSON), where shared names would surface.
@Suite struct ScaleTests {
    @Test(arguments: [UInt64(1), 3])
    func oracleIsExactlyTheInjectedAttacksAtScale(seed: UInt64) throws {
        var c = SimulationConfiguration()
        c.seed = seed
        c.eventCount = 60_000
        let generator = try TrafficGenerator(c)
        #expect(generator.expectedAlerts() == generator.injectedAttacks.map(ExpectedAlert.init).sorted())
        let arns = generator.population.principals.compactMap(\.arn)
        #expect(Set(arns).count == arns.count, "every principal has an ARN of its own")
    }
}
