import AWSAuth
import ArgumentParser
import Foundation
import Logging
import TokentrailCore

/// `tokentrail msk-token`: signs the MSK IAM token `run` would send, with the same credential
/// chain, and prints it with its expiry and the credential source, for debugging IAM access.
/// The secret key is never printed; the token itself is a bearer credential for 15 minutes.
struct MSKToken: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "msk-token",
        abstract: "Print the Amazon MSK IAM token tokentrail would send, its expiry and where its credentials came from.",
        discussion: "Exit 0 with a token; 1 when no credentials could be had; 2 for a region that is not an AWS region name.")

    @Option(help: "The MSK cluster's AWS region, e.g. us-east-1 (aws_msk_iam.region).")
    var region: String
    @Option(help: "Take the credentials from this profile of the shared AWS files only (aws_msk_iam.profile).")
    var profile: String?

    func run() throws {
        guard MSKAuthToken.isRegion(region) else {
            printError("tokentrail: \(ConfigurationError([ConfigProblem(path: "--region", value: "'\(region)'", problem: "is not an AWS region name", allowed: "e.g. us-east-1")]))")
            throw ExitCode(2)
        }
        var logger = Logger(label: "tokentrail.msk-token") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        var settings = AWSMSKIAMSettings()
        settings.region = region
        settings.profile = profile
        let source = settings.tokenSource(environment: ProcessInfo.processInfo.environment, logger: logger)!
        let issued: MSKIAMTokenProvider.Issued
        do {
            issued = try source.tokenWaiting()
        } catch {
            printError("tokentrail: no MSK IAM token: \(error)")
            throw ExitCode(1)
        }
        let c = issued.credentials
        let formatter = ISO8601DateFormatter()
        print("token: \(issued.token.value)")
        print("expires: \(formatter.string(from: issued.token.expiration)) (signed \(formatter.string(from: issued.token.signedAt)), lifetime \(MSKAuthToken.lifetimeSeconds) s)")
        print("region: \(region)")
        print("credentials: \(issued.provider), access key \(Self.masked(c.accessKeyID)), "
              + (c.sessionToken == nil ? "long-term" : "temporary") + (c.expiration.map { ", expire \(formatter.string(from: $0))" } ?? ""))
    }

    /// As `aws configure list` shows a key: its last four characters.
    static func masked(_ id: String) -> String { String(repeating: "*", count: max(0, id.count - 4)) + id.suffix(4) }
}
