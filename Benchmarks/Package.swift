// swift-tools-version: 6.1
// Benchmarks live in their own package so that `swift test` at the root never builds the harness.
// Run: cd Benchmarks && swift package benchmark   (or scripts/bench from the root)
import PackageDescription

let package = Package(
    name: "tokentrail-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "tokentrail", path: ".."),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "DecodeBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CloudTrail", package: "tokentrail"),
            ],
            path: "Benchmarks/DecodeBenchmarks",
            
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "DetectionBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Detection", package: "tokentrail"),
                .product(name: "CloudTrail", package: "tokentrail"),
            ],
            path: "Benchmarks/DetectionBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "EnrichmentBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Enrichment", package: "tokentrail"),
                .product(name: "CloudTrail", package: "tokentrail"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/EnrichmentBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // End-to-end helper for scripts/bench-e2e: the yardsticks (a bare consumer loop, a pipe through a second
        // topic), the final-alert watcher and the open-alert latency probe.
        .executableTarget(
            name: "RawConsume",
            dependencies: [
                .product(name: "KafkaClient", package: "tokentrail"),
                .product(name: "Simulation", package: "tokentrail"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tools/RawConsume"
        ),
    ],
    swiftLanguageModes: [.v6]
)
