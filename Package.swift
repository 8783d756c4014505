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
        .library(name: "Enrichment", targets: ["Enrichment"]),
        .library(name: "KafkaClient", targets: ["KafkaClient"]),
        .library(name: "AWSAuth", targets: ["AWSAuth"]),
        .library(name: "Pipeline", targets: ["Pipeline"]),
        // For LeakCheck/ (the Kafka suite under LeakSanitizer), not for users.
        .library(name: "KafkaTestSupport", targets: ["KafkaTestSupport"]),
        .library(name: "Simulation", targets: ["Simulation"]),
    ],
    // Exact versions: the image build gets the versions the tests ran with (Package.resolved is not
    // committed). Their own dependencies are pinned in the Dockerfile (docs/deployment.md).
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
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
        // MSK IAM tokens (SigV4 presigning) and the AWS credential chain; HTTP on Foundation's URLSession.
        .target(
            name: "AWSAuth",
            dependencies: [.product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // zlib through pkg-config: CloudTrail's S3 objects and many bridges deliver gzip.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .target(name: "CloudTrail", dependencies: ["CZlib"], swiftSettings: strict),
        // libmaxminddb through pkg-config: ASN and city of an address from any MaxMind-format .mmdb.
        .systemLibrary(
            name: "CMaxMindDB",
            pkgConfig: "libmaxminddb",
            providers: [.apt(["libmaxminddb-dev"]), .brew(["libmaxminddb"])]
        ),
        .target(
            name: "Detection",
            dependencies: ["CloudTrail", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // GeoIP enrichment: the Swift face of libmaxminddb (the only module that sees it), cached and reloading.
        .target(
            name: "Enrichment",
            dependencies: ["CMaxMindDB", "CloudTrail", "Detection", .product(name: "Logging", package: "swift-log")],
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
        // Configuration, logging, metrics and health endpoints: a library so that tests can reach it.
        .target(
            name: "TokentrailCore",
            dependencies: [
                "Pipeline", "KafkaClient", "CloudTrail", "Detection", "Enrichment", "AWSAuth",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "tokentrail",
            dependencies: [
                "TokentrailCore", "Pipeline", "KafkaClient", "CloudTrail", "Detection", "Enrichment", "Simulation", "AWSAuth",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CloudTrailTests", dependencies: ["CloudTrail", "Simulation"], exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "DetectionTests", dependencies: ["Detection", "CloudTrail", "Simulation"], swiftSettings: strict),
        .testTarget(
            name: "SimulationTests",
            dependencies: ["Simulation", "CloudTrail", "Detection", "KafkaClient", "KafkaTestSupport"],
            swiftSettings: strict),
        .target(
            name: "KafkaTestSupport",
            dependencies: ["KafkaClient", "CRdKafka", .product(name: "Logging", package: "swift-log")],
            path: "Tests/KafkaTestSupport",
            swiftSettings: strict
        ),
        .testTarget(name: "KafkaClientTests", dependencies: ["KafkaClient", "KafkaTestSupport"], swiftSettings: strict),
        .testTarget(name: "TokentrailTests", dependencies: ["TokentrailCore", "Pipeline", "Detection", "Enrichment", "CloudTrail", "Simulation", "KafkaClient", "KafkaTestSupport", .product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        .testTarget(
            name: "EnrichmentTests", dependencies: ["Enrichment", "Detection", "CloudTrail", "TokentrailCore", "KafkaTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "AWSAuthTests",
            dependencies: [
                "AWSAuth", "KafkaClient", "KafkaTestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "PipelineTests",
            dependencies: ["Pipeline", "KafkaClient", "KafkaTestSupport", "CloudTrail", "Detection", "Simulation",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
