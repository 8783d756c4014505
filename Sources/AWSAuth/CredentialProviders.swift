import Foundation

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, for temporary credentials, `AWS_SESSION_TOKEN`.
public struct EnvironmentCredentialProvider: AWSCredentialProvider {
    public let name = "environment"
    let environment: [String: String]
    public init(environment: [String: String]) { self.environment = environment }

    public func load() async throws(AWSAuthError) -> AWSCredentials? {
        guard let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty else { return nil }
        guard let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else {
            throw AWSAuthError(name, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"],
                              expiration: environment["AWS_CREDENTIAL_EXPIRATION"].flatMap(ISO8601.parse))
    }
}

/// EKS IRSA and any OIDC federation: `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`
/// (`AWS_ROLE_SESSION_NAME` optional), exchanged at STS `AssumeRoleWithWebIdentity` (an unsigned
/// call) on the regional endpoint; `AWS_ENDPOINT_URL_STS` overrides the endpoint, as in the SDKs.
/// The token file is read again at every refresh (the kubelet rotates it).
public struct WebIdentityCredentialProvider: AWSCredentialProvider {
    public let name = "web-identity"
    let environment: [String: String]
    let region: String?
    let http: AWSHTTP

    /// `region`: STS's region when neither `AWS_REGION` nor `AWS_DEFAULT_REGION` is set.
    public init(environment: [String: String], region: String?, http: AWSHTTP) {
        self.environment = environment
        self.region = region
        self.http = http
    }

    public func load() async throws(AWSAuthError) -> AWSCredentials? {
        guard let tokenFile = environment["AWS_WEB_IDENTITY_TOKEN_FILE"], !tokenFile.isEmpty,
              let role = environment["AWS_ROLE_ARN"], !role.isEmpty else { return nil }
        let token: String
        do {
            token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw AWSAuthError(name, "AWS_WEB_IDENTITY_TOKEN_FILE \(tokenFile) cannot be read: \(error.localizedDescription)")
        }
        let session = environment["AWS_ROLE_SESSION_NAME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "tokentrail-\(Int(Date().timeIntervalSince1970))"
        return try await STS.call([("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", role),
                                   ("RoleSessionName", session), ("WebIdentityToken", token)],
                                  signedWith: nil, environment: environment, region: region, http: http, source: name)
    }

    func stsEndpoint() throws(AWSAuthError) -> URL {
        try STS.endpoint(environment: environment, region: region, source: name).url
    }
}

/// AWS Security Token Service: form POSTs to the regional endpoint (`AWS_ENDPOINT_URL_STS`
/// overrides it), XML answers holding `Credentials`.
enum STS {
    /// The endpoint, and the region to sign for: `AWS_REGION`, `AWS_DEFAULT_REGION`, `region`, else us-east-1.
    static func endpoint(environment: [String: String], region: String?, source: String) throws(AWSAuthError) -> (url: URL, region: String) {
        let r = [environment["AWS_REGION"], environment["AWS_DEFAULT_REGION"], region].compactMap { $0 }.first { !$0.isEmpty } ?? "us-east-1"
        guard MSKAuthToken.isRegion(r) else { throw AWSAuthError(source, "'\(r)' is not an AWS region name") }
        if let e = environment["AWS_ENDPOINT_URL_STS"] ?? environment["AWS_ENDPOINT_URL"], !e.isEmpty {
            guard let url = URL(string: e), url.host != nil else { throw AWSAuthError(source, "AWS_ENDPOINT_URL_STS '\(e)' is not a URL") }
            return (url, r)
        }
        return (URL(string: "https://sts.\(r).amazonaws.com\(r.hasPrefix("cn-") ? ".cn" : "")/")!, r)
    }

    /// One STS action; `signedWith` nil for the unsigned `AssumeRoleWithWebIdentity`.
    static func call(_ parameters: [(String, String)], signedWith credentials: AWSCredentials?, environment: [String: String],
                     region: String?, http: AWSHTTP, source: String) async throws(AWSAuthError) -> AWSCredentials {
        let (url, signingRegion) = try endpoint(environment: environment, region: region, source: source)
        let body = Data(parameters.map { "\(MSKAuthToken.uriEncode($0.0))=\(MSKAuthToken.uriEncode($0.1))" }.joined(separator: "&").utf8)
        let headers = credentials.map { SigV4Header.headers(url: url, body: body, region: signingRegion, service: "sts", credentials: $0, date: Date()) }
            ?? ["content-type": "application/x-www-form-urlencoded; charset=utf-8"]
        let response = try await http.send("POST", url, headers: headers, body: body, timeout: 10, source: source)
        let xml = response.text
        let action = parameters.first { $0.0 == "Action" }?.1 ?? ""
        let role = parameters.first { $0.0 == "RoleArn" }?.1 ?? ""
        guard response.status == 200 else {
            let code = XMLText.value(of: "Code", in: xml) ?? "HTTP \(response.status)"
            let message = XMLText.value(of: "Message", in: xml) ?? ""
            throw AWSAuthError(source, "STS \(action) for \(role) at \(url.host ?? ""): \(code) \(message)")
        }
        guard let id = XMLText.value(of: "AccessKeyId", in: xml), let secret = XMLText.value(of: "SecretAccessKey", in: xml),
              let sessionToken = XMLText.value(of: "SessionToken", in: xml) else {
            throw AWSAuthError(source, "STS \(action) answered without credentials")
        }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: sessionToken,
                              expiration: XMLText.value(of: "Expiration", in: xml).flatMap(ISO8601.parse))
    }
}

/// A profile of the shared files: `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`,
/// `[name]` sections) over `AWS_CONFIG_FILE` (default `~/.aws/config`, `[profile name]` sections).
/// Static keys, or a role (`role_arn`) assumed with STS `AssumeRole` on the keys of its
/// `source_profile` (`external_id`, `role_session_name`, `duration_seconds` honoured).
public struct ProfileCredentialProvider: AWSCredentialProvider {
    public var name: String { "profile \(profile)" }
    let environment: [String: String]
    let profile: String
    /// A profile named by the configuration (not just `AWS_PROFILE` or `default`) must exist.
    let required: Bool
    let http: AWSHTTP
    /// STS's region when neither the profile nor the environment names one.
    let region: String?

    public init(environment: [String: String], profile: String?, region: String? = nil, http: AWSHTTP = AWSHTTP()) {
        self.environment = environment
        let fromEnvironment = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }
        self.profile = profile ?? fromEnvironment ?? "default"
        required = profile != nil || fromEnvironment != nil
        self.region = region
        self.http = http
    }

    public func load() async throws(AWSAuthError) -> AWSCredentials? {
        try await load(profile, required: required, chain: [])
    }

    private func load(_ profile: String, required: Bool, chain: [String]) async throws(AWSAuthError) -> AWSCredentials? {
        let home = environment["HOME"] ?? NSHomeDirectory()
        let credentialsFile = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials"
        let configFile = environment["AWS_CONFIG_FILE"] ?? "\(home)/.aws/config"
        let config = Self.sections(ofFile: configFile)
        let credentials = Self.sections(ofFile: credentialsFile)
        let fromConfig = config[profile == "default" ? "default" : "profile \(profile)"] ?? (profile == "default" ? config["profile default"] : nil)
        guard fromConfig != nil || credentials[profile] != nil else {
            if required { throw AWSAuthError(name, "no profile '\(profile)' in \(credentialsFile) or \(configFile)") }
            return nil
        }
        let values = (fromConfig ?? [:]).merging(credentials[profile] ?? [:]) { _, fromCredentials in fromCredentials }
        if let id = values["aws_access_key_id"], !id.isEmpty {
            guard let secret = values["aws_secret_access_key"], !secret.isEmpty else {
                throw AWSAuthError(name, "aws_access_key_id is set but aws_secret_access_key is not")
            }
            return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: values["aws_session_token"])
        }
        if let role = values["role_arn"] {
            guard let source = values["source_profile"], !source.isEmpty else {
                throw AWSAuthError(name, "assumes \(role) without source_profile (credential_source and web_identity_token_file "
                                   + "in a profile are not supported: use the environment's web identity or container credentials)")
            }
            guard !chain.contains(source), chain.count < 5 else {
                throw AWSAuthError(name, "source_profile loops: \((chain + [profile, source]).joined(separator: " -> "))")
            }
            guard let base = try await load(source, required: true, chain: chain + [profile]) else { return nil }
            var parameters = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", role),
                              ("RoleSessionName", values["role_session_name"] ?? "tokentrail-\(Int(Date().timeIntervalSince1970))")]
            if let external = values["external_id"] { parameters.append(("ExternalId", external)) }
            if let duration = values["duration_seconds"] { parameters.append(("DurationSeconds", duration)) }
            let stsRegion = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? values["region"] ?? region
            return try await STS.call(parameters, signedWith: base, environment: environment.filter { $0.key != "AWS_REGION" && $0.key != "AWS_DEFAULT_REGION" },
                                      region: stsRegion, http: http, source: name)
        }
        if required { throw AWSAuthError(name, "has no aws_access_key_id") }
        return nil
    }

    /// An INI file as sections of lower-cased keys; a missing file has none.
    static func sections(ofFile path: String) -> [String: [String: String]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var out: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                current = name
                out[name, default: [:]] = out[name] ?? [:]
                continue
            }
            guard let section = current, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            out[section, default: [:]][key] = value
        }
        return out
    }
}

/// ECS task roles and EKS Pod Identity: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (on
/// `http://169.254.170.2`) or `AWS_CONTAINER_CREDENTIALS_FULL_URI`, with the `Authorization` header
/// from `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read at every refresh) or
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN`. A plain-http full URI must be loopback or one of the
/// container agents' link-local addresses, as in the SDKs.
public struct ContainerCredentialProvider: AWSCredentialProvider {
    public let name = "container"
    let environment: [String: String]
    let http: AWSHTTP
    public init(environment: [String: String], http: AWSHTTP) {
        self.environment = environment
        self.http = http
    }

    static let allowedHTTPHosts: Set<String> = ["169.254.170.2", "169.254.170.23", "fd00:ec2::23", "[fd00:ec2::23]", "localhost", "::1", "[::1]"]

    public func load() async throws(AWSAuthError) -> AWSCredentials? {
        let url: URL
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], !relative.isEmpty {
            guard let u = URL(string: "http://169.254.170.2\(relative.hasPrefix("/") ? "" : "/")\(relative)") else {
                throw AWSAuthError(name, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI '\(relative)' is not a path")
            }
            url = u
        } else if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"], !full.isEmpty {
            guard let u = URL(string: full), let host = u.host, u.scheme == "https" || u.scheme == "http" else {
                throw AWSAuthError(name, "AWS_CONTAINER_CREDENTIALS_FULL_URI '\(full)' is not an http(s) URL")
            }
            guard u.scheme == "https" || host.hasPrefix("127.") || Self.allowedHTTPHosts.contains(host) else {
                throw AWSAuthError(name, "AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http only to loopback, 169.254.170.2, 169.254.170.23 or fd00:ec2::23, not \(host)")
            }
            url = u
        } else {
            return nil
        }
        var headers: [String: String] = [:]
        if let file = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"], !file.isEmpty {
            do {
                headers["Authorization"] = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw AWSAuthError(name, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(file) cannot be read: \(error.localizedDescription)")
            }
        } else if let token = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"], !token.isEmpty {
            headers["Authorization"] = token
        }
        let response = try await http.send("GET", url, headers: headers, timeout: 5, source: name)
        guard response.status == 200 else {
            throw AWSAuthError(name, "\(url.host ?? "")\(url.path) answered HTTP \(response.status)")
        }
        return try JSONCredentials.parse(response.body, source: name)
    }
}

/// EC2 instance profiles through IMDSv2: a session token (PUT), the role name, then its
/// credentials. `AWS_EC2_METADATA_SERVICE_ENDPOINT` overrides `http://169.254.169.254`;
/// `AWS_EC2_METADATA_DISABLED=true` turns it off. No IMDSv1 fallback. An endpoint that does not
/// answer (not on EC2) is "not configured", not an error.
public struct InstanceMetadataCredentialProvider: AWSCredentialProvider {
    public let name = "imds"
    let environment: [String: String]
    let http: AWSHTTP
    public init(environment: [String: String], http: AWSHTTP) {
        self.environment = environment
        self.http = http
    }

    public func load() async throws(AWSAuthError) -> AWSCredentials? {
        if environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" { return nil }
        let base = (environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://169.254.169.254")
        let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
        guard let tokenURL = URL(string: "\(trimmed)/latest/api/token") else {
            throw AWSAuthError(name, "AWS_EC2_METADATA_SERVICE_ENDPOINT '\(base)' is not a URL")
        }
        let tokenResponse: AWSHTTP.Response
        do {
            tokenResponse = try await http.send("PUT", tokenURL, headers: ["X-aws-ec2-metadata-token-ttl-seconds": "21600"],
                                                timeout: 1, source: name)
        } catch {
            return nil  // No metadata service here.
        }
        guard tokenResponse.status == 200 else { throw AWSAuthError(name, "token request answered HTTP \(tokenResponse.status)") }
        let headers = ["X-aws-ec2-metadata-token": tokenResponse.text]
        let rolesURL = URL(string: "\(trimmed)/latest/meta-data/iam/security-credentials/")!
        let roles = try await http.send("GET", rolesURL, headers: headers, timeout: 2, source: name)
        guard roles.status == 200, let role = roles.text.split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty else {
            throw AWSAuthError(name, "no instance profile role (HTTP \(roles.status))")
        }
        let credentials = try await http.send("GET", rolesURL.appendingPathComponent(role), headers: headers, timeout: 2, source: name)
        guard credentials.status == 200 else { throw AWSAuthError(name, "credentials of role \(role) answered HTTP \(credentials.status)") }
        return try JSONCredentials.parse(credentials.body, source: name)
    }
}

/// The container endpoint's and IMDS's answer: `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`.
enum JSONCredentials {
    static func parse(_ body: Data, source: String) throws(AWSAuthError) -> AWSCredentials {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            throw AWSAuthError(source, "the answer is not a JSON object")
        }
        if let code = object["Code"] as? String, code != "Success" {
            throw AWSAuthError(source, "answered \(code): \(object["Message"] as? String ?? "")")
        }
        guard let id = object["AccessKeyId"] as? String, let secret = object["SecretAccessKey"] as? String else {
            throw AWSAuthError(source, "the answer holds no AccessKeyId/SecretAccessKey")
        }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: object["Token"] as? String,
                              expiration: (object["Expiration"] as? String).flatMap(ISO8601.parse))
    }
}
