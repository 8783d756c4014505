import AWSAuth
import Foundation
import KafkaTestSupport
import Testing

/// The token against Amazon's own signer (`aws-msk-iam-sasl-signer-python`, installed into .venv by
/// scripts/bootstrap) with botocore's clock fixed: same credentials, region and instant, same bytes.
@Suite(.ownThreads) struct SignerTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Prints the Python signer's token, its expiry in ms and the User-Agent it sends.
    static let script = """
        import sys, datetime, importlib.metadata
        import botocore.auth
        from botocore.credentials import Credentials
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider as P
        region, ak, sk, tok, instant = sys.argv[1:6]
        fixed = datetime.datetime.fromtimestamp(int(instant), datetime.timezone.utc).replace(tzinfo=None)
        botocore.auth.get_current_datetime = lambda *a, **k: fixed
        construct = getattr(P, "__construct_auth_token")
        token, expiry = construct(region, Credentials(ak, sk, tok or None))
        print(token); print(expiry)
        print(f"aws-msk-iam-sasl-signer-python/{importlib.metadata.version('aws-msk-iam-sasl-signer-python')}")
        """

    struct Unavailable: Error, CustomStringConvertible { var description: String }

    static func python() -> String? {
        if let p = ProcessInfo.processInfo.environment["TOKENTRAIL_PYTHON"] { return p }
        let venv = root.appendingPathComponent(".venv/bin/python").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
    }

    static func amazonToken(region: String, key: String, secret: String, session: String?, instant: Int) throws -> (token: String, expiryMs: Int64, userAgent: String)? {
        guard let python = python() else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", script, region, key, secret, session ?? "", String(instant)]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if p.terminationStatus != 0 {
            if errors.contains("No module named") { return nil }
            throw Unavailable(description: "python signer failed: \(errors)")
        }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        return (lines[0], Int64(lines[1])!, lines[2])
    }

    static let cases: [(region: String, key: String, secret: String, session: String?, instant: Int)] = [
        ("us-east-1", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", nil, 1_700_000_000),
        ("eu-central-1", "ASIAQEXAMPLE2", "s3cr3t+with/slash=and=", "IQoJb3JpZ2luX2VjEOr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+token==", 1_764_774_001),
        ("ap-southeast-2", "ASIAQEXAMPLE3", "k", "FwoGZXIvYXdzEBYaDN token with space & amp", 946_684_799),
        ("us-gov-west-1", "AKIAEXAMPLE4", "another-secret", nil, 2_000_000_123),
    ]

    @Test(arguments: 0..<cases.count)
    func matchesAmazonsPythonSigner(index: Int) throws {
        let c = Self.cases[index]
        guard let amazon = try Self.amazonToken(region: c.region, key: c.key, secret: c.secret, session: c.session, instant: c.instant) else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("aws-msk-iam-sasl-signer-python is missing from .venv: run scripts/bootstrap")
            } else {
                print("skipped: no aws-msk-iam-sasl-signer-python in .venv (run scripts/bootstrap)")
            }
            return
        }
        let ours = try MSKAuthToken.make(
            region: c.region, credentials: AWSCredentials(accessKeyID: c.key, secretAccessKey: c.secret, sessionToken: c.session),
            date: Date(timeIntervalSince1970: TimeInterval(c.instant)), userAgent: amazon.userAgent)
        #expect(ours.value == amazon.token)
        #expect(Int64(ours.expiration.timeIntervalSince1970 * 1000) == amazon.expiryMs)
    }

    @Test func tokenIsThePresignedConnectURL() throws {
        let t = try MSKAuthToken.make(region: "us-west-2", credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "SECRET", sessionToken: "SESSION"),
                                      date: Date(timeIntervalSince1970: 1_700_000_000.7))
        #expect(!t.value.contains("=") && !t.value.contains("+") && !t.value.contains("/"))
        var b64 = t.value.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        let url = String(decoding: try #require(Data(base64Encoded: b64)), as: UTF8.self)
        #expect(url.hasPrefix("https://kafka.us-west-2.amazonaws.com/?Action=kafka-cluster%3AConnect&X-Amz-Algorithm=AWS4-HMAC-SHA256"
                              + "&X-Amz-Credential=AKID%2F20231114%2Fus-west-2%2Fkafka-cluster%2Faws4_request&X-Amz-Date=20231114T221320Z"
                              + "&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Security-Token=SESSION&X-Amz-Signature="))
        #expect(url.hasSuffix("&User-Agent=tokentrail"))
        #expect(!url.contains("SECRET"))
        #expect(t.expiration == Date(timeIntervalSince1970: 1_700_000_900))
    }

    @Test func regionNamesAreChecked() {
        for good in ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1", "il-central-1", "us-isob-east-1"] {
            #expect(MSKAuthToken.isRegion(good), "\(good)")
        }
        for bad in ["", "us-east", "US-EAST-1", "us_east_1", "us-east-1a", "kafka.us-east-1", "-east-1", "us--1"] {
            #expect(!MSKAuthToken.isRegion(bad), "\(bad)")
            #expect(throws: AWSAuthError.self) {
                try MSKAuthToken.make(region: bad, credentials: AWSCredentials(accessKeyID: "a", secretAccessKey: "b"))
            }
        }
    }
}
