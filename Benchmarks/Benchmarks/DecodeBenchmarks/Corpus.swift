import Foundation

/// A realistic mix of CloudTrail events, one Kafka record each, drawn with a fixed seed from the
/// test fixtures (CloudTrail's documented shapes, 1.0 to 1.9 KB, with the large
/// `requestParameters`/`responseElements`/`resources`/`tlsDetails` objects the decoder must skip).
enum Corpus {
    /// Share of each fixture: mostly roles and services, as an organisation trail looks.
    static let mix: [(name: String, weight: Int)] = [
        ("assumed-role", 30), ("service-caller", 20), ("aws-internal", 20), ("iam-user-session-token", 8),
        ("console-session", 7), ("ipv6-caller", 5), ("root-user", 5), ("error-event", 5),
    ]

    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Tests/CloudTrailTests/Fixtures")

    static func load(count: Int) -> [[UInt8]] {
        var templates: [[UInt8]] = []
        for (name, weight) in mix {
            let path = fixtures.appendingPathComponent(name + ".json").path
            guard let data = FileManager.default.contents(atPath: path) else { fatalError("missing \(path)") }
            let event = Array(data).filter { $0 != 0x0A }
            templates += Array(repeating: event, count: weight)
        }
        var state: UInt64 = 42
        return (0..<count).map { k in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            var event = templates[Int(state >> 33) % templates.count]
            // Vary the eventID's last hex digits so that no two records are byte-identical.
            if let r = event.firstRange(of: Array("\"eventID\":\"".utf8)) {
                let digits = Array(String(k, radix: 16).utf8)
                let end = r.upperBound + 36
                event.replaceSubrange((end - digits.count)..<end, with: digits)
            }
            return event
        }
    }
}

/// The same fields through Foundation's `JSONDecoder`, for the comparison the issue asks for.
struct CodableEvent: Decodable {
    struct Identity: Decodable {
        struct SessionContext: Decodable {
            struct Attributes: Decodable { var mfaAuthenticated: String? }
            struct Issuer: Decodable { var arn: String? }
            var attributes: Attributes?
            var sessionIssuer: Issuer?
        }
        var type, arn, accountId, principalId, userName, accessKeyId: String?
        var sessionContext: SessionContext?
    }
    var eventTime: String
    var eventID, eventSource, eventName, eventCategory, awsRegion, sourceIPAddress: String?
    var userAgent, recipientAccountId, errorCode, sessionCredentialFromConsole: String?
    var userIdentity: Identity?
}
