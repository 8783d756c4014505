// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "tokentrail",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tokentrail", targets: ["tokentrail"]),
        .library(name: "CloudTrail", targets: ["CloudTrail"]),
        .library(name: "Detection", targets: ["Detection"]),
        .library(name: "KafkaClient", targets: ["KafkaClient"]),
        .library(name: "Pipeline", targets: ["Pipeline"]),
        // For LeakCheck/ (the Kafka suite under LeakSanitizer), not for users.
        .library(name: "KafkaTestSupport", targets: ["KafkaTestSupport"]),
        .library(name: "Simulation", targets: ["Simulation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // librdkafka through pkg-config; scripts/bootstrap installs >= 2.2 where the distro lags.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"]), .brew(["librdkafka"])]
        ),
        .target(
            name: "KafkaClient",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // zlib through pkg-config: CloudTrail's S3 objects and many bridges deliver gzip.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .target(name: "CloudTrail", dependencies: ["CZlib"], swiftSettings: strict),
        .target(
            name: "Detection",
            dependencies: ["CloudTrail", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // Traffic generator and batch oracle: CloudTrail only, never Detection, so the oracle stays independent.
        .target(name: "Simulation", dependencies: ["CloudTrail"], swiftSettings: strict),
        .target(
            name: "Pipeline",
            dependencies: [
                "KafkaClient", "CloudTrail", "Detection",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "tokentrail",
            dependencies: [
                "Pipeline", "KafkaClient", "CloudTrail", "Detection", "Simulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CloudTrailTests", dependencies: ["CloudTrail"], exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "DetectionTests", dependencies: ["Detection", "CloudTrail"], swiftSettings: strict),
        .testTarget(
            name: "SimulationTests",
            dependencies: ["Simulation", "CloudTrail", "Detection", "KafkaClient", "KafkaTestSupport"],
            swiftSettings: strict),
        .target(
            name: "KafkaTestSupport",
            dependencies: ["KafkaClient", .product(name: "Logging", package: "swift-log")],
            path: "Tests/KafkaTestSupport",
            swiftSettings: strict
        ),
        .testTarget(name: "KafkaClientTests", dependencies: ["KafkaClient", "KafkaTestSupport"], swiftSettings: strict),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "KafkaClient", "KafkaTestSupport"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
