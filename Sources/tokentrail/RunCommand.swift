import ArgumentParser

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the detector as a Kafka consumer-group member.")
    func run() throws { throw ValidationError("run is not built yet") }
}
