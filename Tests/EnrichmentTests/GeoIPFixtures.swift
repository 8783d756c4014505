import CloudTrail
import Detection
import Foundation
import Testing

/// Small City and ASN databases written at test time by scripts/make-test-mmdb.py (PyPI mmdb-writer,
/// installed into .venv/ by scripts/bootstrap): never real GeoIP data.
///
/// What the networks are for (city, country, ASN, organisation):
/// - 203.0.113.0/24   Seattle US, 64500 EXAMPLE-HOME-ISP   the owner's usual address
/// - 203.0.114.0/24   Portland US, 64500 EXAMPLE-HOME-ISP  same network, another city
/// - 100.64.0.0/16    Seattle US, 64510 EXAMPLE-CGNAT      same city, another network
/// - 198.51.100.0/24  Frankfurt am Main DE, 64501 EXAMPLE-VPS (EXAMPLE-VPS-RENAMED in `--variant renamed`)
/// - 192.0.2.0/24     Singapore SG, 64502 EXAMPLE-MOBILE
/// - 52.94.0.0/16     Ashburn US, 16509 AMAZON-02
/// - 54.240.0.0/16    Boardman US, 14618 AMAZON-AES
/// - 2001:db8:1::/48  Dublin IE, 64503 EXAMPLE-V6-ISP
/// - 2001:db8:2::/48  Tokyo JP, 16509 AMAZON-02
/// - 233.252.0.0/24   (ASN database only) 64504 EXAMPLE-NO-CITY
///
/// Without Python and mmdb-writer the tests that need databases are skipped on a developer's
/// machine and fail under CI=true (CI never skips), like the broker-backed suites.
enum GeoIPFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// `$TOKENTRAIL_PYTHON`, else the repository's `.venv/bin/python`.
    static var python: String? {
        if let p = ProcessInfo.processInfo.environment["TOKENTRAIL_PYTHON"], !p.isEmpty { return p }
        let venv = root.appendingPathComponent(".venv/bin/python").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
    }

    /// Whether that Python can import mmdb_writer (asked once per test process).
    static let hasWriter: Bool = {
        guard let python else { return false }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", "import mmdb_writer"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    /// Tests that need databases run when the writer is there, and always in CI (where its absence fails them).
    static var isEnabled: Bool { hasWriter || isCI }

    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    /// Paths of one generated pair.
    struct Databases: Sendable {
        let directory: URL
        var city: String { directory.appendingPathComponent("city.mmdb").path }
        var asn: String { directory.appendingPathComponent("asn.mmdb").path }
    }

    /// Writes a pair into a new temporary directory (each caller gets its own, so reload tests can rewrite theirs).
    static func make(variant: String = "base", into directory: URL? = nil) throws -> Databases {
        guard let python else {
            throw Unavailable(description: "no Python with mmdb-writer: run scripts/bootstrap (creates .venv/) or set TOKENTRAIL_PYTHON")
        }
        let dir = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("tt-mmdb-\(UInt64.random(in: 0...UInt64.max))")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [root.appendingPathComponent("scripts/make-test-mmdb.py").path, dir.path, "--variant", variant]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw Unavailable(description: "scripts/make-test-mmdb.py failed (\(process.terminationStatus)): \(stderr)")
        }
        return Databases(directory: dir)
    }

    /// One pair shared by the tests that only read it.
    static let shared: Result<Databases, any Error> = Result { try make() }

    static func require() throws -> Databases { try shared.get() }
}
