@testable import AWSAuth
import Foundation
import Logging
import Testing

/// The credential chain against a loopback server playing STS, the container endpoint and IMDSv2.
@Suite struct CredentialProviderTests {
    static func tempFile(_ content: String) throws -> String {
        let path = NSTemporaryDirectory() + "tokentrail-aws-\(UUID().uuidString)"
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Only what a test sets: never the machine's own AWS settings or files.
    static func environment(_ values: [String: String]) -> [String: String] {
        ["HOME": "/nonexistent-home", "AWS_EC2_METADATA_DISABLED": "true"].merging(values) { _, new in new }
    }

    static func stsAnswer(id: String, secret: String, session: String, expiration: Date) -> String {
        """
        <AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
          <AssumeRoleWithWebIdentityResult>
            <Credentials>
              <SessionToken>\(session)</SessionToken>
              <SecretAccessKey>\(secret)</SecretAccessKey>
              <Expiration>\(iso(expiration))</Expiration>
              <AccessKeyId>\(id)</AccessKeyId>
            </Credentials>
            <SubjectFromWebIdentityToken>system:serviceaccount:ns:tokentrail</SubjectFromWebIdentityToken>
          </AssumeRoleWithWebIdentityResult>
        </AssumeRoleWithWebIdentityResponse>
        """
    }

    static func jsonAnswer(id: String, secret: String, session: String, expiration: Date) -> String {
        #"{"Code":"Success","AccessKeyId":"\#(id)","SecretAccessKey":"\#(secret)","Token":"\#(session)","Expiration":"\#(iso(expiration))"}"#
    }

    @Test func webIdentityAssumesTheRoleAtSTS() async throws {
        let expiration = Date(timeIntervalSince1970: 1_900_000_000)
        let server = try FakeAWS { r in
            guard r.method == "POST", r.body.contains("Action=AssumeRoleWithWebIdentity"),
                  r.body.contains("WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.projected.sig"),
                  r.body.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Ftokentrail"),
                  r.body.contains("RoleSessionName=pod-a") else {
                return (400, "<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>bad request</Message></Error></ErrorResponse>")
            }
            return (200, Self.stsAnswer(id: "ASIAWEBID", secret: "web-secret-1", session: "web-session-1", expiration: expiration))
        }
        defer { server.stop() }
        let tokenFile = try Self.tempFile("eyJhbGciOiJSUzI1NiJ9.projected.sig\n")
        let env = Self.environment([
            "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/tokentrail",
            "AWS_ROLE_SESSION_NAME": "pod-a", "AWS_ENDPOINT_URL_STS": server.url + "/",
        ])
        let chain = AWSCredentialChain.standard(environment: env, region: "eu-west-1", logger: Logger(label: "t"))
        let resolved = try await chain.resolve()
        #expect(resolved.provider == "web-identity")
        #expect(resolved.credentials == AWSCredentials(accessKeyID: "ASIAWEBID", secretAccessKey: "web-secret-1",
                                                        sessionToken: "web-session-1", expiration: expiration))
        #expect(server.requests.count == 1)
        #expect(server.requests.first?.header("content-type")?.hasPrefix("application/x-www-form-urlencoded") == true)

        // A rejected token is an error naming STS's code; the chain does not fall through.
        try "other-token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let failing = AWSCredentialChain.standard(environment: env.merging(["AWS_ACCESS_KEY_ID": ""]) { _, n in n }, region: nil, logger: Logger(label: "t"))
        let error = await #expect(throws: AWSAuthError.self) { try await failing.resolve() }
        #expect(error?.description.contains("InvalidIdentityToken") == true)
    }

    @Test func regionalSTSEndpoint() throws {
        let p = WebIdentityCredentialProvider(environment: ["AWS_REGION": "eu-west-3"], region: "us-east-1", http: AWSHTTP())
        #expect(try p.stsEndpoint().absoluteString == "https://sts.eu-west-3.amazonaws.com/")
        let q = WebIdentityCredentialProvider(environment: [:], region: "cn-north-1", http: AWSHTTP())
        #expect(try q.stsEndpoint().absoluteString == "https://sts.cn-north-1.amazonaws.com.cn/")
    }

    @Test func containerEndpointSendsTheAuthorizationToken() async throws {
        let expiration = Date(timeIntervalSince1970: 1_900_000_000)
        let server = try FakeAWS { r in
            guard r.method == "GET", r.uri == "/v1/credentials" else { return (404, "") }
            guard r.header("authorization") == "pod-identity-token-xyz" else { return (401, #"{"Code":"Unauthorized"}"#) }
            return (200, Self.jsonAnswer(id: "ASIACONTAINER", secret: "container-secret", session: "container-session", expiration: expiration))
        }
        defer { server.stop() }
        let tokenFile = try Self.tempFile("pod-identity-token-xyz\n")
        let env = Self.environment(["AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/v1/credentials",
                                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile])
        let resolved = try await AWSCredentialChain.standard(environment: env, region: nil, logger: Logger(label: "t")).resolve()
        #expect(resolved.provider == "container")
        #expect(resolved.credentials.accessKeyID == "ASIACONTAINER")
        #expect(resolved.credentials.sessionToken == "container-session")
        #expect(resolved.credentials.expiration == expiration)

        // The token from AWS_CONTAINER_AUTHORIZATION_TOKEN when there is no file; a wrong one is refused.
        var wrong = env
        wrong["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = nil
        wrong["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "stale"
        let error = await #expect(throws: AWSAuthError.self) {
            try await AWSCredentialChain.standard(environment: wrong, region: nil, logger: Logger(label: "t")).resolve()
        }
        #expect(error?.description.contains("401") == true)
        #expect(server.requests.last?.header("authorization") == "stale")
    }

    @Test func containerFullURIMustBeLocalForPlainHTTP() async throws {
        let env = Self.environment(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://example.com/creds"])
        let error = await #expect(throws: AWSAuthError.self) {
            try await ContainerCredentialProvider(environment: env, http: AWSHTTP()).load()
        }
        #expect(error?.description.contains("plain http only to loopback") == true)
    }

    /// IMDSv2: the credentials are served only with the session token from the PUT.
    static func imdsServer(expiration: @escaping @Sendable (Int) -> Date, fail: @escaping @Sendable () -> Bool = { false }) throws -> FakeAWS {
        let issued = Recorder()
        return try FakeAWS { r in
            if r.method == "PUT", r.uri == "/latest/api/token" {
                return r.header("x-aws-ec2-metadata-token-ttl-seconds") == nil ? (400, "") : (200, "imds-session-token")
            }
            guard r.method == "GET", r.header("x-aws-ec2-metadata-token") == "imds-session-token" else { return (401, "") }
            switch r.uri {
            case "/latest/meta-data/iam/security-credentials/": return (200, "tokentrail-node-role")
            case "/latest/meta-data/iam/security-credentials/tokentrail-node-role":
                if fail() { return (500, "") }
                issued.add(r)
                let n = issued.all.count
                return (200, Self.jsonAnswer(id: "ASIAIMDS\(n)", secret: "imds-secret-\(n)", session: "imds-session-\(n)", expiration: expiration(n)))
            default: return (404, "")
            }
        }
    }

    @Test func instanceMetadataNeedsTheSessionToken() async throws {
        let server = try Self.imdsServer(expiration: { _ in Date(timeIntervalSince1970: 1_900_000_000) })
        defer { server.stop() }
        let env = Self.environment(["AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url])
        let resolved = try await AWSCredentialChain.standard(environment: env, region: nil, logger: Logger(label: "t")).resolve()
        #expect(resolved.provider == "imds")
        #expect(resolved.credentials.accessKeyID == "ASIAIMDS1")
        #expect(server.requests.map { "\($0.method) \($0.uri)" } == [
            "PUT /latest/api/token",
            "GET /latest/meta-data/iam/security-credentials/",
            "GET /latest/meta-data/iam/security-credentials/tokentrail-node-role",
        ])
    }

    @Test func temporaryCredentialsAreRefreshedBeforeTheyExpire() async throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        // Each credential lives 15 minutes from when it is issued on the test clock.
        let clock = TestClock(start)
        let failing = Recorder()
        let server = try Self.imdsServer(expiration: { _ in clock.read().addingTimeInterval(900) }, fail: { !failing.all.isEmpty })
        defer { server.stop() }
        let env = Self.environment(["AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url])
        let chain = AWSCredentialChain.standard(environment: env, region: nil, logger: Logger(label: "t"), now: { clock.read() })
        let fetches = { server.requests.filter { $0.uri.hasSuffix("/tokentrail-node-role") }.count }

        let first = try await chain.resolve()
        #expect(first.credentials.accessKeyID == "ASIAIMDS1")
        clock.set(start.addingTimeInterval(9 * 60))  // 6 minutes left: still served from the cache.
        #expect(try await chain.resolve().credentials.accessKeyID == "ASIAIMDS1")
        #expect(fetches() == 1)
        clock.set(start.addingTimeInterval(10 * 60 + 1))  // Under 5 minutes left: fetched again, before expiry.
        let second = try await chain.resolve()
        #expect(second.credentials.accessKeyID == "ASIAIMDS2")
        #expect(second.credentials.expiration == start.addingTimeInterval(10 * 60 + 1 + 900))
        #expect(fetches() == 2)

        // The endpoint fails: the current credentials serve while valid, then the failure surfaces.
        failing.add(SeenRequest(method: "", uri: "", headers: [:], body: ""))
        clock.set(start.addingTimeInterval(10 * 60 + 1 + 11 * 60))
        #expect(try await chain.resolve().credentials.accessKeyID == "ASIAIMDS2")
        clock.set(start.addingTimeInterval(10 * 60 + 1 + 900 + 1))
        await #expect(throws: AWSAuthError.self) { try await chain.resolve() }
    }

    @Test func environmentComesFirstAndStaticKeysAreKept() async throws {
        let server = try Self.imdsServer(expiration: { _ in Date(timeIntervalSince1970: 1_900_000_000) })
        defer { server.stop() }
        let env = Self.environment(["AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url,
                                    "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret"])
        let chain = AWSCredentialChain.standard(environment: env, region: nil, logger: Logger(label: "t"))
        let resolved = try await chain.resolve()
        #expect(resolved.provider == "environment")
        #expect(resolved.credentials == AWSCredentials(accessKeyID: "AKIAENV", secretAccessKey: "env-secret"))
        _ = try await chain.resolve()
        #expect(server.requests.isEmpty)
    }

    @Test func nothingConfiguredSaysWhatWasTried() async throws {
        let error = await #expect(throws: AWSAuthError.self) {
            try await AWSCredentialChain.standard(environment: Self.environment([:]), region: nil, logger: Logger(label: "t")).resolve()
        }
        #expect(error?.description == "chain: no AWS credentials found (tried environment, web-identity, profile default, container, imds)")
    }

    @Test func sharedFilesProfile() async throws {
        let credentials = try Self.tempFile("""
            [default]
            aws_access_key_id = AKIADEFAULT
            aws_secret_access_key = default-secret

            [dev]
            aws_access_key_id=AKIADEV
            aws_secret_access_key=dev-secret
            aws_session_token = dev-session
            """)
        let config = try Self.tempFile("""
            [profile ops]
            region = eu-west-1
            aws_access_key_id = AKIAOPS
            aws_secret_access_key = ops-secret
            [profile admin]
            role_arn = arn:aws:iam::1:role/admin
            credential_source = Ec2InstanceMetadata
            """)
        let env = Self.environment(["AWS_SHARED_CREDENTIALS_FILE": credentials, "AWS_CONFIG_FILE": config])
        func resolve(_ env: [String: String], profile: String? = nil) async throws -> AWSCredentialChain.Resolved {
            try await AWSCredentialChain.standard(environment: env, profile: profile, region: nil, logger: Logger(label: "t")).resolve()
        }
        #expect(try await resolve(env).credentials.accessKeyID == "AKIADEFAULT")
        let dev = try await resolve(env.merging(["AWS_PROFILE": "dev"]) { _, n in n })
        #expect(dev.provider == "profile dev")
        #expect(dev.credentials == AWSCredentials(accessKeyID: "AKIADEV", secretAccessKey: "dev-secret", sessionToken: "dev-session"))
        #expect(try await resolve(env, profile: "ops").credentials.accessKeyID == "AKIAOPS")
        // A configured profile overrides the environment's keys, as `aws --profile` does.
        #expect(try await resolve(env.merging(["AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "x"]) { _, n in n }, profile: "dev")
            .credentials.accessKeyID == "AKIADEV")
        let missing = await #expect(throws: AWSAuthError.self) { try await resolve(env, profile: "nope") }
        #expect(missing?.description.contains("no profile 'nope'") == true)
        let role = await #expect(throws: AWSAuthError.self) { try await resolve(env, profile: "admin") }
        #expect(role?.description.contains("without source_profile") == true)
    }

    /// `role_arn` + `source_profile`: STS `AssumeRole`, signed (SigV4 in the Authorization header) with
    /// the source profile's keys; botocore, given the request the server received, computes the same signature.
    @Test func profileAssumesARoleWithItsSourceProfile() async throws {
        let expiration = Date(timeIntervalSince1970: 1_900_000_000)
        let server = try FakeAWS { r in
            guard r.method == "POST", r.body.contains("Action=AssumeRole&"), r.header("authorization") != nil else { return (400, "") }
            return (200, Self.stsAnswer(id: "ASIAROLE", secret: "role-secret", session: "role-session", expiration: expiration))
        }
        defer { server.stop() }
        let credentials = try Self.tempFile("[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = base/secret+key\naws_session_token = base-session\n")
        let config = try Self.tempFile("""
            [profile deploy]
            role_arn = arn:aws:iam::123456789012:role/msk-reader
            source_profile = base
            external_id = ext-42
            role_session_name = tokentrail-test
            region = eu-north-1
            [profile loop]
            role_arn = arn:aws:iam::1:role/x
            source_profile = loop
            """)
        let env = Self.environment(["AWS_SHARED_CREDENTIALS_FILE": credentials, "AWS_CONFIG_FILE": config, "AWS_ENDPOINT_URL_STS": server.url + "/"])
        let resolved = try await AWSCredentialChain.standard(environment: env, profile: "deploy", region: nil, logger: Logger(label: "t")).resolve()
        #expect(resolved.provider == "profile deploy")
        #expect(resolved.credentials == AWSCredentials(accessKeyID: "ASIAROLE", secretAccessKey: "role-secret", sessionToken: "role-session", expiration: expiration))
        let request = try #require(server.requests.first)
        #expect(request.body == "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fmsk-reader"
                + "&RoleSessionName=tokentrail-test&ExternalId=ext-42")
        #expect(request.header("x-amz-security-token") == "base-session")
        let authorization = try #require(request.header("authorization"))
        #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIABASE/"))
        #expect(authorization.contains("/eu-north-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="))
        if let expected = try Self.botocoreAuthorization(request, secret: "base/secret+key", region: "eu-north-1") {
            #expect(authorization == expected)
        } else if ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record("no .venv/bin/python with botocore: run scripts/bootstrap")
        } else {
            print("botocore comparison skipped: no botocore in .venv (run scripts/bootstrap)")
        }

        let loop = await #expect(throws: AWSAuthError.self) {
            try await AWSCredentialChain.standard(environment: env, profile: "loop", region: nil, logger: Logger(label: "t")).resolve()
        }
        #expect(loop?.description.contains("source_profile loops") == true)
    }

    /// What botocore's SigV4Auth puts in Authorization for the request as received (nil without the .venv).
    static func botocoreAuthorization(_ r: SeenRequest, secret: String, region: String) throws -> String? {
        guard let python = SignerTests.python() else { return nil }
        let script = """
            import sys, datetime
            import botocore.auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
            url, body, ctype, amzdate, key, secret, token, region = sys.argv[1:9]
            fixed = datetime.datetime.strptime(amzdate, "%Y%m%dT%H%M%SZ")
            botocore.auth.get_current_datetime = lambda *a, **k: fixed
            req = AWSRequest(method="POST", url=url, data=body.encode(), headers={"Content-Type": ctype})
            botocore.auth.SigV4Auth(Credentials(key, secret, token), "sts", region).add_auth(req)
            print(req.headers["Authorization"])
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        let host = r.header("host") ?? ""
        let key = r.header("authorization")?.split(separator: "=")[1].split(separator: "/")[0] ?? ""
        p.arguments = ["-c", script, "http://\(host)\(r.uri)", r.body, r.header("content-type") ?? "", r.header("x-amz-date") ?? "",
                       String(key), secret, r.header("x-amz-security-token") ?? "", region]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            if !errors.contains("No module named") || ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("botocore could not sign: \(errors)")
            }
            return nil
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Secrets, session tokens and the web identity token never reach a log line or an error,
    /// through a full refresh and a failed one.
    @Test func secretsNeverReachLogsOrErrors() async throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let clock = TestClock(start)
        let server = try FakeAWS { r in
            if r.body.contains("WebIdentityToken=web-identity-jwt-SECRETPART") {
                return (200, Self.stsAnswer(id: "ASIAWEB", secret: "sts-secret-ABCDEFGH", session: "sts-session-IJKLMNOP",
                                            expiration: clock.read().addingTimeInterval(900)))
            }
            return (403, "<ErrorResponse><Error><Code>AccessDenied</Code><Message>Not authorized</Message></Error></ErrorResponse>")
        }
        defer { server.stop() }
        let tokenFile = try Self.tempFile("web-identity-jwt-SECRETPART")
        let capture = LogCapture()
        let env = Self.environment(["AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": "arn:aws:iam::1:role/r",
                                    "AWS_ENDPOINT_URL_STS": server.url])
        let chain = AWSCredentialChain.standard(environment: env, region: nil, logger: capture.logger(), now: { clock.read() })
        let provider = MSKIAMTokenProvider(region: "us-east-1", chain: chain)
        let issued = try await provider.token()
        try "rotated-but-rejected".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        clock.set(start.addingTimeInterval(800))
        let stillServed = try await chain.resolve()  // Refresh fails; the old credentials serve, with a warning.
        clock.set(start.addingTimeInterval(1000))
        var errors: [String] = []
        do { _ = try await chain.resolve() } catch { errors.append("\(error)") }
        errors.append("\(issued.credentials)")
        errors.append("\(stillServed)")

        let logged = capture.text
        #expect(logged.contains("AWS credentials loaded"))
        #expect(logged.contains("could not be refreshed"))
        for secret in ["sts-secret-ABCDEFGH", "sts-session-IJKLMNOP", "web-identity-jwt-SECRETPART", issued.token.value] {
            #expect(!logged.contains(secret), "log holds \(secret)")
            for e in errors { #expect(!e.contains(secret), "error or description holds \(secret)") }
        }
        #expect(errors.count == 3)
    }
}
