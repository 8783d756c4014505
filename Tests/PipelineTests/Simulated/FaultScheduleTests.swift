import Foundation
@testable import Pipeline
import Testing

/// The whole pipeline on a simulated cluster under thousands of random fault schedules, checked
/// against the batch oracle (FoundationDB's simulation testing and TigerBeetle's VOPR are the
/// models). A failing seed is printed; `TOKENTRAIL_SIMULATION_SEED=N` replays that one run, and
/// `TOKENTRAIL_SIMULATION_RUNS=N` sets how many run (2,000 by default, in shards that run in parallel).
@Suite struct FaultScheduleTests {
    static let shards = 8

    static func seeds(shard: Int) -> [UInt64] {
        let env = ProcessInfo.processInfo.environment
        if let seed = env["TOKENTRAIL_SIMULATION_SEED"].flatMap(UInt64.init) { return shard == 0 ? [seed] : [] }
        let runs = env["TOKENTRAIL_SIMULATION_RUNS"].flatMap(Int.init) ?? 2_000
        return stride(from: shard + 1, through: runs, by: shards).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 >> 20 }
    }

    @Test(arguments: 0..<shards)
    func everyFaultScheduleKeepsEveryPromise(shard: Int) throws {
        var failures: [String] = []
        var faults: [String: Int] = [:]
        var finals = 0
        var suppressed = 0
        let seeds = Self.seeds(shard: shard)
        for seed in seeds {
            let schedule = SimulationRun.Schedule(seed: seed)
            var run = try SimulationRun(schedule)
            let outcome = try run.run()
            finals += outcome.finals
            suppressed += outcome.suppressedWindows
            faults.merge(outcome.faults, uniquingKeysWith: +)
            if !outcome.problems.isEmpty {
                failures.append("\(schedule)\n    " + outcome.problems.prefix(5).joined(separator: "\n    "))
                if failures.count >= 3 { break }
            }
        }
        print("simulation shard \(shard): \(seeds.count) schedules, \(finals) finals, \(suppressed) windows suppressed into incidents, faults \(faults.sorted { $0.key < $1.key })")
        #expect(failures.isEmpty, "replay one with TOKENTRAIL_SIMULATION_SEED:\n\(failures.joined(separator: "\n"))")
        #expect(seeds.isEmpty || finals > 0)
    }
}
