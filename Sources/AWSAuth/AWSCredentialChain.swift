public import Foundation
public import Logging

/// The SDKs' default chain, first source that is configured wins: environment, web identity,
/// the shared files' profile, container (ECS / EKS Pod Identity), EC2 instance metadata.
/// Credentials that expire are kept until `refreshBefore` their expiry, then fetched again; if that
/// fails while the old ones are still valid, the old ones serve (and a warning is logged).
public actor AWSCredentialChain {
    public struct Resolved: Sendable {
        public var credentials: AWSCredentials
        /// The provider's `name`.
        public var provider: String
    }

    public let providers: [any AWSCredentialProvider]
    let refreshBefore: TimeInterval
    let now: @Sendable () -> Date
    let logger: Logger
    private var cached: Resolved?

    public init(providers: [any AWSCredentialProvider], refreshBefore: Duration = .seconds(300),
                logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.providers = providers
        self.refreshBefore = TimeInterval(refreshBefore.components.seconds)
        self.logger = logger
        self.now = now
    }

    /// The standard chain. `profile` (from the configuration) restricts it to that profile of
    /// the shared files, as `aws --profile` does; `region` is STS's region when the environment
    /// names none.
    public static func standard(environment: [String: String], profile: String? = nil, region: String?,
                                logger: Logger, http: AWSHTTP = AWSHTTP(),
                                now: @escaping @Sendable () -> Date = { Date() }) -> AWSCredentialChain {
        if let profile {
            return AWSCredentialChain(providers: [ProfileCredentialProvider(environment: environment, profile: profile, region: region, http: http)],
                                      logger: logger, now: now)
        }
        return AWSCredentialChain(providers: [
            EnvironmentCredentialProvider(environment: environment),
            WebIdentityCredentialProvider(environment: environment, region: region, http: http),
            ProfileCredentialProvider(environment: environment, profile: nil, region: region, http: http),
            ContainerCredentialProvider(environment: environment, http: http),
            InstanceMetadataCredentialProvider(environment: environment, http: http),
        ], logger: logger, now: now)
    }

    /// Cached credentials while they are fresh, else the chain's.
    public func resolve() async throws(AWSAuthError) -> Resolved {
        let now = now()
        if let c = cached, !needsRefresh(c.credentials, at: now) { return c }
        do {
            let fresh = try await fetch()
            cached = fresh
            return fresh
        } catch {
            if let c = cached, let expiration = c.credentials.expiration, expiration > now {
                logger.warning("AWS credentials could not be refreshed; the current ones serve until they expire",
                               metadata: ["provider": "\(c.provider)", "expiration": "\(ISO8601.format(expiration))", "error": "\(error)"])
                return c
            }
            throw error
        }
    }

    func needsRefresh(_ c: AWSCredentials, at now: Date) -> Bool {
        guard let expiration = c.expiration else { return false }
        return expiration.timeIntervalSince(now) <= refreshBefore
    }

    private func fetch() async throws(AWSAuthError) -> Resolved {
        for provider in providers {
            guard let credentials = try await provider.load() else { continue }
            logger.debug("AWS credentials loaded", metadata: [
                "provider": "\(provider.name)",
                "expiration": "\(credentials.expiration.map(ISO8601.format) ?? "none")",
            ])
            return Resolved(credentials: credentials, provider: provider.name)
        }
        throw AWSAuthError("chain", "no AWS credentials found (tried \(providers.map(\.name).joined(separator: ", ")))")
    }
}

/// MSK IAM tokens from a credential chain: what the OAUTHBEARER refresh callback and
/// `tokentrail msk-token` call.
public struct MSKIAMTokenProvider: Sendable {
    public let region: String
    public let chain: AWSCredentialChain
    public let userAgent: String

    public init(region: String, chain: AWSCredentialChain, userAgent: String = "tokentrail") {
        self.region = region
        self.chain = chain
        self.userAgent = userAgent
    }

    public struct Issued: Sendable {
        public var token: MSKAuthToken
        /// Which provider of the chain supplied the credentials.
        public var provider: String
        public var credentials: AWSCredentials
    }

    public func token(at date: Date = Date()) async throws(AWSAuthError) -> Issued {
        let resolved = try await chain.resolve()
        let token = try MSKAuthToken.make(region: region, credentials: resolved.credentials, date: date, userAgent: userAgent)
        return Issued(token: token, provider: resolved.provider, credentials: resolved.credentials)
    }

    /// `token()` for a thread outside Swift concurrency (librdkafka's background thread, a
    /// command's main thread): blocks it up to `timeout`. Never call it from an async context.
    public func tokenWaiting(timeout: Duration = .seconds(30)) throws(AWSAuthError) -> Issued {
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        let provider = self
        Task {
            do throws(AWSAuthError) {
                box.set(.success(try await provider.token()))
            } catch {
                box.set(.failure(error))
            }
            done.signal()
        }
        guard done.wait(timeout: .now() + .milliseconds(Int(timeout.components.seconds * 1000))) == .success, let result = box.get() else {
            throw AWSAuthError("chain", "no credentials within \(timeout)")
        }
        return try result.get()
    }
}

/// The one result a waiting thread takes from a task.
///
/// `@unchecked Sendable`: the value is written once under `lock` and read under it.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<MSKIAMTokenProvider.Issued, AWSAuthError>?
    func set(_ r: Result<MSKIAMTokenProvider.Issued, AWSAuthError>) { lock.withLock { result = r } }
    func get() -> Result<MSKIAMTokenProvider.Issued, AWSAuthError>? { lock.withLock { result } }
}
