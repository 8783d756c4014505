import ArgumentParser

/// Synthetic CloudTrail traffic with injected attacks (work in progress: the Simulation module).
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate synthetic CloudTrail traffic with injected attacks.")
    func run() throws { throw ValidationError("simulate is not built yet") }
}
