import Crypto
public import Foundation

/// The MSK IAM authentication token: a SigV4-presigned `GET https://kafka.<region>.amazonaws.com/?Action=kafka-cluster:Connect`,
/// base64url-encoded without padding, built exactly as Amazon's `aws-msk-iam-sasl-signer` libraries
/// build it (the Python one's byte layout: auth parameters in botocore's order, the signature, then
/// `User-Agent`).
public struct MSKAuthToken: Sendable {
    /// What the broker receives as the OAUTHBEARER token. A bearer credential for 15 minutes: never log it.
    public var value: String
    /// Signing time + 900 s, as the signer reports it.
    public var expiration: Date
    public var signedAt: Date

    public static let lifetimeSeconds = 900
    static let service = "kafka-cluster"

    /// Presigns the connect request for `region` with `credentials` at `date`. `userAgent` goes into
    /// the unsigned `User-Agent` query parameter (the Python signer sends
    /// `aws-msk-iam-sasl-signer-python/<version>`).
    public static func make(region: String, credentials: AWSCredentials, date: Date = Date(),
                            userAgent: String = "tokentrail") throws(AWSAuthError) -> MSKAuthToken {
        guard isRegion(region) else { throw AWSAuthError("signer", "'\(region)' is not an AWS region name") }
        guard !credentials.accessKeyID.isEmpty, !credentials.secretAccessKey.isEmpty else {
            throw AWSAuthError("signer", "the credentials are empty")
        }
        // Whole seconds, as SigV4's X-Amz-Date carries them.
        let signedAt = Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
        let (amzDate, day) = amzDates(signedAt)
        let host = "kafka.\(region).amazonaws.com"
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        var query: [(String, String)] = [
            ("Action", "kafka-cluster:Connect"),
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", "\(credentials.accessKeyID)/\(scope)"),
            ("X-Amz-Date", amzDate),
            ("X-Amz-Expires", String(lifetimeSeconds)),
            ("X-Amz-SignedHeaders", "host"),
        ]
        if let token = credentials.sessionToken { query.append(("X-Amz-Security-Token", token)) }
        let encoded = query.map { (uriEncode($0.0), uriEncode($0.1)) }
        let canonicalQuery = encoded.sorted { $0 < $1 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let emptyPayloadHash = hex(SHA256.hash(data: Data()))
        let canonicalRequest = "GET\n/\n\(canonicalQuery)\nhost:\(host)\n\nhost\n\(emptyPayloadHash)"
        let stringToSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(hex(SHA256.hash(data: Data(canonicalRequest.utf8))))"
        let signature = hex(hmac(signingKey(secret: credentials.secretAccessKey, day: day, region: region, service: service), stringToSign))
        let url = "https://\(host)/?" + encoded.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
            + "&X-Amz-Signature=\(signature)&User-Agent=\(formEncode(userAgent))"
        let value = Data(url.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return MSKAuthToken(value: value, expiration: signedAt.addingTimeInterval(TimeInterval(lifetimeSeconds)), signedAt: signedAt)
    }

    /// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`: letters, dash-separated, a final number.
    public static func isRegion(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 3, let last = parts.last, !last.isEmpty, last.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        return parts.dropLast().allSatisfy { p in !p.isEmpty && p.allSatisfy { $0.isASCII && $0.isLowercase } }
    }

    static func amzDates(_ date: Date) -> (amzDate: String, day: String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ n: Int?) -> String { let n = n ?? 0; return n < 10 ? "0\(n)" : "\(n)" }
        let day = "\(c.year ?? 1970)\(two(c.month))\(two(c.day))"
        return ("\(day)T\(two(c.hour))\(two(c.minute))\(two(c.second))Z", day)
    }

    static func signingKey(secret: String, day: String, region: String, service: String) -> SymmetricKey {
        var key = SymmetricKey(data: Data("AWS4\(secret)".utf8))
        for part in [day, region, service, "aws4_request"] { key = SymmetricKey(data: hmac(key, part)) }
        return key
    }

    static func hmac(_ key: SymmetricKey, _ text: String) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key))
    }

    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func hex(_ digest: SHA256.Digest) -> String { hex(Array(digest)) }

    /// SigV4's URI encoding: everything but `A-Z a-z 0-9 - _ . ~` as `%XX` (upper-case hex).
    static func uriEncode(_ text: String) -> String { percentEncode(text, spaceAsPlus: false) }

    /// `application/x-www-form-urlencoded` (Python's `quote_plus`): as `uriEncode`, but a space is `+`.
    static func formEncode(_ text: String) -> String { percentEncode(text, spaceAsPlus: true) }

    private static func percentEncode(_ text: String, spaceAsPlus: Bool) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: " ") where spaceAsPlus:
                out.append(UInt8(ascii: "+"))
            default:
                out += [UInt8(ascii: "%"), digits[Int(b >> 4)], digits[Int(b & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// SigV4 in the `Authorization` header, for a form POST (STS `AssumeRole`): the headers to send,
/// `Host` excepted (the HTTP client writes it, as signed).
enum SigV4Header {
    static func headers(url: URL, body: Data, region: String, service: String, credentials: AWSCredentials, date: Date) -> [String: String] {
        let (amzDate, day) = MSKAuthToken.amzDates(date)
        let defaultPort = url.scheme == "https" ? 443 : 80
        let host = (url.host ?? "") + (url.port.map { $0 == defaultPort ? "" : ":\($0)" } ?? "")
        var headers = ["content-type": "application/x-www-form-urlencoded; charset=utf-8", "host": host, "x-amz-date": amzDate]
        if let token = credentials.sessionToken { headers["x-amz-security-token"] = token }
        let names = headers.keys.sorted()
        let signedHeaders = names.joined(separator: ";")
        let canonicalRequest = "POST\n\(url.path.isEmpty ? "/" : url.path)\n\n" + names.map { "\($0):\(headers[$0]!)\n" }.joined()
            + "\n\(signedHeaders)\n\(MSKAuthToken.hex(SHA256.hash(data: body)))"
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(MSKAuthToken.hex(SHA256.hash(data: Data(canonicalRequest.utf8))))"
        let key = MSKAuthToken.signingKey(secret: credentials.secretAccessKey, day: day, region: region, service: service)
        headers["authorization"] = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), "
            + "Signature=\(MSKAuthToken.hex(MSKAuthToken.hmac(key, stringToSign)))"
        headers["host"] = nil
        return headers
    }
}
