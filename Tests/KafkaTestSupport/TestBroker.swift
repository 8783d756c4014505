public import Foundation
public import KafkaClient
public import Logging

/// Where the integration tests find a Kafka-protocol broker.
///
/// `scripts/test` starts tansu and exports `TOKENTRAIL_TEST_BOOTSTRAP`. Without it the tests
/// are skipped on a developer's machine, but under `CI=true` they run and fail: CI never skips.
public enum TestBroker {
    public static var bootstrap: String? { ProcessInfo.processInfo.environment["TOKENTRAIL_TEST_BOOTSTRAP"] }
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }
    /// Tests run when a broker was named, and always in CI (where a missing broker is a failure).
    public static var isEnabled: Bool { bootstrap != nil || isCI }

    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    /// The broker's address, or an error that fails the test (CI=true) with the reason.
    public static func require() throws -> String {
        guard let b = bootstrap else {
            throw Unavailable(description: "CI=true but TOKENTRAIL_TEST_BOOTSTRAP is not set: run the tests through scripts/test")
        }
        guard reachable(b) else { throw Unavailable(description: "no broker answers at \(b)") }
        return b
    }

    public static func reachable(_ bootstrap: String) -> Bool {
        let parts = bootstrap.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else { return false }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr(String(parts[0]))
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// A name no other test (or earlier run against the same broker) uses.
    public static func unique(_ prefix: String) -> String {
        "\(prefix)-\(UInt32.random(in: 0...UInt32.max))"
    }

    public static let logger: Logger = {
        var l = Logger(label: "test") { StreamLogHandler.standardError(label: $0) }
        l.logLevel = ProcessInfo.processInfo.environment["TOKENTRAIL_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .error
        return l
    }()

    public static func createTopic(_ bootstrap: String, _ name: String, partitions: Int) throws {
        let admin = try KafkaAdmin(configuration: KafkaConfiguration(bootstrapServers: bootstrap), logger: logger)
        try admin.createTopics([KafkaTopicSpec(name: name, partitions: partitions, config: ["retention.ms": "3600000"])])
    }

    /// Consumer settings for tests: short session (tansu's joins take about half of it).
    public static func consumerConfig(_ bootstrap: String, group: String) -> KafkaConsumerConfiguration {
        KafkaConsumerConfiguration(
            common: KafkaConfiguration(bootstrapServers: bootstrap, properties: ["topic.metadata.refresh.interval.ms": "1000"]),
            groupID: group, sessionTimeoutMilliseconds: 6000)
    }
}

/// A tansu broker of a test's own, for tests that stop or pause it (others keep the shared one).
public final class PrivateBroker: @unchecked Sendable {
    public let bootstrap: String
    public let process: Process

    public init() throws {
        guard let tansu = ProcessInfo.processInfo.environment["TOKENTRAIL_TANSU"] else {
            throw TestBroker.Unavailable(description: "TOKENTRAIL_TANSU (path of the tansu binary) is not set: run the tests through scripts/test")
        }
        let port = try PrivateBroker.freePort()
        bootstrap = "127.0.0.1:\(port)"
        process = Process()
        process.executableURL = URL(fileURLWithPath: tansu)
        process.arguments = ["broker", "--listener-url", "tcp://\(bootstrap)", "--advertised-listener-url", "tcp://\(bootstrap)",
                             "--storage-engine", "memory://tansu/"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            if TestBroker.reachable(bootstrap) { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        kill(process.processIdentifier, SIGKILL)
        throw TestBroker.Unavailable(description: "private tansu did not start on \(bootstrap)")
    }

    public func pause() { kill(process.processIdentifier, SIGSTOP) }
    public func resume() { kill(process.processIdentifier, SIGCONT) }

    deinit {
        // tansu ignores SIGTERM and SIGINT; its storage is in memory, so SIGKILL loses nothing.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw TestBroker.Unavailable(description: "no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
