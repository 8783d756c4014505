// swift-tools-version: 6.1
// The Kafka client's integration tests, built alone under AddressSanitizer/LeakSanitizer by
// scripts/test: the same test files (symlinks), without compiling the rest of tokentrail under ASan.
import PackageDescription

let package = Package(
    name: "tokentrail-leakcheck",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "tokentrail", path: "..")],
    targets: [
        .testTarget(
            name: "KafkaClientLeakTests",
            dependencies: [
                .product(name: "KafkaClient", package: "tokentrail"),
                .product(name: "KafkaTestSupport", package: "tokentrail"),
            ],
            path: "Tests/KafkaClientLeakTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
