@testable import CloudTrail
import Foundation
import Testing

/// `KnownKeys.match` (a key recognised in place by its first eight bytes) against `field(_:_:)` (the
/// same table looked up after a full scan): a key the fast path takes must be the key the slow path
/// finds, whatever bytes surround it.
@Suite struct KnownKeysTests {
    static let tables: [(name: String, table: KnownKeys)] = [
        ("event", .event), ("identity", .identity), ("sessionContext", .sessionContext),
        ("sessionIssuer", .sessionIssuer), ("attributes", .attributes),
    ]

    /// The fast path's answer for `"key":"value"}`, or nil.
    static func fast(_ table: KnownKeys, _ key: [UInt8]) -> (length: Int, field: Field?)? {
        let bytes = [UInt8(ascii: "\"")] + key + Array(#"":"value"}"#.utf8)
        return bytes.withUnsafeBufferPointer { table.match($0.baseAddress!, at: 1, end: $0.count) }
    }

    static func slow(_ table: KnownKeys, _ key: [UInt8]) -> Field? {
        key.withUnsafeBufferPointer { table.field($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
    }

    @Test func everyListedKeyIsRecognisedInPlace() {
        for (name, table) in Self.tables {
            #expect(!table.keys.isEmpty, "\(name)")
            for (key, field) in table.keys {
                let hit = Self.fast(table, key)
                #expect(hit?.length == key.count + 2, "\(name): \(String(decoding: key, as: UTF8.self))")
                #expect(hit?.field == field, "\(name): \(String(decoding: key, as: UTF8.self))")
                #expect(Self.slow(table, key) == field, "\(name): \(String(decoding: key, as: UTF8.self))")
            }
        }
    }

    /// Each listed key with one byte changed at every position, one byte more or less, or a space or
    /// an escape where the fast path expects the colon or a letter: the fast path either declines or
    /// agrees with the slow path on exactly those bytes.
    @Test func nearMissesAreNeverTakenForAnotherKey() {
        var variants = 0
        var declined = 0
        for (name, table) in Self.tables {
            for (key, _) in table.keys {
                var misses: [[UInt8]] = [key + [UInt8(ascii: "x")], Array(key.dropLast()), Array(key.dropFirst())]
                for i in key.indices {
                    var changed = key
                    changed[i] ^= 0x20
                    misses.append(changed)
                    var escaped = Array(key[..<i])
                    escaped += Array(#"\u00"#.utf8) + Array(String(key[i], radix: 16).utf8) + Array(key[(i + 1)...])
                    misses.append(escaped)
                }
                for miss in misses {
                    variants += 1
                    guard let hit = Self.fast(table, miss) else { declined += 1; continue }
                    let text = String(decoding: miss, as: UTF8.self)
                    #expect(hit.length == miss.count + 2, "\(name): \(text)")
                    #expect(hit.field == Self.slow(table, miss), "\(name): \(text)")
                }
                // A space before the colon: the scanner's slow path reads it.
                let spaced = [UInt8(ascii: "\"")] + key + Array(#"" :1}"#.utf8)
                #expect(spaced.withUnsafeBufferPointer { table.match($0.baseAddress!, at: 1, end: $0.count) } == nil)
            }
        }
        #expect(variants > 1000)
        #expect(declined > variants * 9 / 10)
    }

    /// Keys that only the slow path reads (escaped, spaced) decode to the same event as plain ones.
    @Test func theDecoderReadsEscapedAndSpacedKeysAsPlainOnes() throws {
        let plain = #"{"eventTime":"2026-03-02T08:00:00Z","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s","accessKeyId":"ASIAY34FZKBOKMUTVV7A","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/r"},"attributes":{"mfaAuthenticated":"true"}}},"eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.23","userAgent":"aws-cli/2","eventID":"2f4c6a1e-0000-4000-8000-000000000001","recipientAccountId":"1","eventCategory":"Data","sessionCredentialFromConsole":"true"}"#
        var escaped = plain
        for key in ["eventTime", "userIdentity", "type", "arn", "accessKeyId", "sessionIssuer", "mfaAuthenticated",
                    "eventSource", "sourceIPAddress", "sessionCredentialFromConsole"] {
            escaped = escaped.replacingOccurrences(of: "\"\(key)\":", with: "\"\\u00\(String(key.utf8.first!, radix: 16))\(key.dropFirst())\" :")
        }
        #expect(escaped != plain)
        let decoder = CloudTrailDecoder()
        let a = decoder.decode(Array(plain.utf8))
        let b = decoder.decode(Array(escaped.utf8))
        #expect(a.errors.isEmpty && b.errors.isEmpty)
        let event = try #require(a.events.first)
        #expect(event.userIdentity.arn == "arn:aws:sts::1:assumed-role/r/s")
        #expect(event.userIdentity.sessionIssuerArn == "arn:aws:iam::1:role/r")
        #expect(event.userIdentity.mfaAuthenticated == true)
        #expect(event.sessionCredentialFromConsole)
        #expect(b.events == a.events)
    }
}
