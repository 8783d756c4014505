import Foundation
import KafkaTestSupport
import Testing

/// `tokentrail run` configured for MSK IAM authenticates with an MSK token signed from the
/// environment's credentials: configuration, credential chain, signer and librdkafka together.
@Suite(.ownThreads) struct RunWithMSKIAMTests {
    @Test func runAuthenticatesWithAnMSKToken() throws {
        let broker = try FakeSASLBroker()
        defer { broker.stop() }
        let process = Process()
        process.executableURL = TokentrailBinary.url
        process.arguments = ["run", "--bootstrap-servers", "127.0.0.1:\(broker.port)"]
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TOKENTRAIL_") && !$0.key.hasPrefix("AWS_") }
        env.merge([
            "HOME": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ACCESS_KEY_ID": "ASIARUNTEST", "AWS_SECRET_ACCESS_KEY": "run-secret-never-shown", "AWS_SESSION_TOKEN": "run-session-token",
            "TOKENTRAIL_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT", "TOKENTRAIL_KAFKA__SASL_MECHANISM": "OAUTHBEARER",
            "TOKENTRAIL_AWS_MSK_IAM__REGION": "eu-west-1", "TOKENTRAIL_METRICS__ENABLED": "false", "TOKENTRAIL_LOGGING__LEVEL": "debug",
        ]) { $1 }
        process.environment = env
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while broker.authentications.isEmpty, Date() < deadline, process.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        // Killed: its shutdown against a broker that only authenticates is not this test's subject.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        let log = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()

        let auth = try #require(broker.authentications.first, "\(log.suffix(2000))")
        let token = try #require(auth.split(separator: "\u{1}").first { $0.hasPrefix("auth=Bearer ") }?.dropFirst("auth=Bearer ".count))
        var b64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        let url = String(decoding: try #require(Data(base64Encoded: b64)), as: UTF8.self)
        #expect(url.hasPrefix("https://kafka.eu-west-1.amazonaws.com/?Action=kafka-cluster%3AConnect&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIARUNTEST%2F"))
        #expect(url.contains("&X-Amz-Security-Token=run-session-token&X-Amz-Signature="))
        #expect(url.hasSuffix("&User-Agent=tokentrail"))
        #expect(log.contains("MSK IAM token signed"))
        for secret in ["run-secret-never-shown", "run-session-token", String(token)] {
            #expect(!log.contains(secret), "the log holds a secret")
        }
    }
}
