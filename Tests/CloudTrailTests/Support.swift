import Foundation
@testable import CloudTrail
import Simulation

/// The fixture files beside this source: CloudTrail's documented shapes, also the fuzz seed corpus.
enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static let eventNames = [
        "iam-user-session-token", "assumed-role", "console-session", "service-caller", "aws-internal",
        "ipv6-caller", "root-user", "error-event",
    ]

    static func bytes(_ file: String) -> [UInt8] {
        // A missing fixture is a broken checkout: fail loudly rather than test nothing.
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(file).path) else {
            fatalError("fixture \(file) missing")
        }
        return Array(data)
    }

    static func event(_ name: String) -> [UInt8] {
        var b = bytes(name + ".json")
        while let last = b.last, last == 0x0A || last == 0x20 { b.removeLast() }
        return b
    }

    static var allEvents: [[UInt8]] { eventNames.map(event) }

    static func records(_ members: [[UInt8]]) -> [UInt8] {
        Array(#"{"Records":["#.utf8) + members.joined(separator: Array(",".utf8)) + Array("]}".utf8)
    }
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}

/// The simulator's seeded generator (SplitMix64): a failing property case replays from its seed.
typealias SeededRandom = SplitMix64

/// gzip with stored (uncompressed) deflate blocks: enough to wrap any test document without zlib.
enum StoredGzip {
    static func wrap(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF]
        var offset = 0
        repeat {
            let n = min(65535, data.count - offset)
            let final: UInt8 = offset + n == data.count ? 1 : 0
            out += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[offset..<(offset + n)]
            offset += n
        } while offset < data.count
        let crc = crc32(data)
        for v in [crc, UInt32(truncatingIfNeeded: data.count)] {
            out += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]
        }
        return out
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}

/// Minutes-precision helper for expected times: seconds since the epoch of a UTC wall-clock time.
func utc(_ y: Int64, _ mo: Int64, _ d: Int64, _ h: Int64, _ mi: Int64, _ s: Int64, ms: Int64 = 0) -> EventTime {
    EventTime(millisecondsSinceEpoch: (RFC3339.days(year: y, month: mo, day: d) * 86400 + h * 3600 + mi * 60 + s) * 1000 + ms)
}
