public import CloudTrail

/// The response an alert carries: the deny policy the IAM console's "Revoke active sessions" attaches
/// to a role (inline policy `AWSRevokeOlderSessions`: deny everything to credentials whose
/// `aws:TokenIssueTime` is before a time), here with the detection time, for the IAM role or user
/// that issued the session, and the AWS CLI command that attaches it. Every session that identity
/// issued before the detection, the stolen one included, stops working; sessions issued after it
/// (the owner signing in again) do not.
///
/// The target is the session's issuer when it is a role or a user (`sessionIssuer.arn`); without an
/// issuer, the role of an `AssumedRole` principal (named in its ARN) or the user of an `IAMUser`
/// principal (credentials from `GetSessionToken`). Root, a service-linked role, a role of an IAM
/// Identity Center permission set (IAM refuses to edit those), or a principal no IAM role or user
/// stands behind have no such policy: `reason` says why instead.
public struct AlertResponse: Sendable, Hashable {
    public struct Target: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable {
            case role
            case user
        }

        public var kind: Kind
        /// The role or user name (the last part of its ARN: a path is not part of the name).
        public var name: String
        /// The issuer's ARN, when the events named it.
        public var arn: String?
        /// The account the role or user is in, where the command must run.
        public var accountId: String?
    }

    /// The name the IAM console gives the policy: attaching it again replaces it (a later time wins).
    public static let policyName = "AWSRevokeOlderSessions"
    /// AWS's description of the procedure.
    public static let reference = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html"

    /// Whom the policy is for; nil when there is none (`reason` says why).
    public var target: Target?
    /// Why the alert carries no policy; nil when it does.
    public var reason: String?
    /// The policy's `aws:TokenIssueTime` bound: the alert's `detected_at`.
    public var revokeIssuedBefore: EventTime

    public init(_ alert: Alert) {
        revokeIssuedBefore = alert.detectedAt
        switch Self.target(principalType: alert.principal.type, principalArn: alert.principal.arn,
                           issuerArn: alert.session.issuerArn) {
        case .success(let target): self.target = target
        case .failure(let why): reason = why.text
        }
    }

    /// The policy document, compact JSON as the console writes its members.
    public var policyDocument: String? { target.map { _ in Self.policyDocument(issuedBefore: revokeIssuedBefore) } }

    /// The AWS CLI command that attaches the policy (POSIX shell quoting).
    public var awsCLI: String? {
        guard let target, let document = policyDocument else { return nil }
        let (command, option) = target.kind == .role ? ("put-role-policy", "--role-name") : ("put-user-policy", "--user-name")
        return "aws iam \(command) \(option) \(Self.shellQuoted(target.name)) --policy-name \(Self.policyName) "
            + "--policy-document \(Self.shellQuoted(document))"
    }

    public static func policyDocument(issuedBefore time: EventTime) -> String {
        #"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],"#
            + #""Condition":{"DateLessThan":{"aws:TokenIssueTime":"\#(RFC3339.format(time))"}}}]}"#
    }

    /// `text` as one word for a POSIX shell: unchanged when it holds only characters no shell
    /// treats specially, otherwise in single quotes (each `'` written `'\''`).
    public static func shellQuoted(_ text: String) -> String {
        let plain = !text.isEmpty && text.utf8.allSatisfy { b in
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || "_+=,.@-/:".utf8.contains(b)
        }
        if plain { return text }
        return "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// Why there is no policy to attach.
    enum NoTarget: Error, Equatable {
        case root
        case serviceLinkedRole(String)
        case identityCenterRole(String)
        case invalidName(String)
        case noIssuer(String)

        var text: String {
            switch self {
            case .root:
                "issued by the account's root user: no IAM policy restricts root credentials; "
                    + "rotate the root credentials and review the account's root access"
            case .serviceLinkedRole(let arn):
                "issued by the service-linked role \(arn): AWS does not allow revoking its sessions"
            case .identityCenterRole(let name):
                "issued for \(name), a role of an IAM Identity Center permission set, which IAM does not let "
                    + "anyone edit: revoke the user's active permission set sessions in IAM Identity Center"
            case .invalidName(let text):
                "\(text) does not end in a valid IAM role or user name (cut or forged): no command is given"
            case .noIssuer(let type):
                "no IAM role or user is known to have issued these \(type) credentials "
                    + "(for a federated or web identity session, revoke at the identity provider)"
            }
        }
    }

    /// The identity whose sessions the policy revokes.
    static func target(principalType: String, principalArn: String, issuerArn: String?) -> Result<Target, NoTarget> {
        if let issuerArn, let arn = IAMResource(issuerArn), arn.service == "iam" {
            switch arn.kind {
            case "role":
                if arn.path.first == "aws-service-role" { return .failure(.serviceLinkedRole(issuerArn)) }
                if arn.path.first == "aws-reserved" || Self.isIdentityCenterRole(arn.path.last ?? "") {
                    return .failure(.identityCenterRole(arn.path.last ?? issuerArn))
                }
                return named(.role, arn, fullArn: issuerArn)
            case "user": return named(.user, arn, fullArn: issuerArn)
            case "root": return .failure(.root)
            default: break
            }
        }
        if principalType == "Root" { return .failure(.root) }
        if let arn = IAMResource(principalArn) {
            if principalType == "IAMUser", arn.service == "iam", arn.kind == "user" {
                return named(.user, arn, fullArn: principalArn)
            }
            // `assumed-role/NAME/SESSION`: the role's name, not its path or ARN.
            if principalType == "AssumedRole", arn.service == "sts", arn.kind == "assumed-role", arn.path.count >= 2 {
                guard isIAMName(arn.path[0]) else { return .failure(.invalidName(principalArn)) }
                if isIdentityCenterRole(arn.path[0]) { return .failure(.identityCenterRole(arn.path[0])) }
                return .success(Target(kind: .role, name: arn.path[0], arn: nil, accountId: arn.account))
            }
        }
        return .failure(.noIssuer(principalType))
    }

    private static func named(_ kind: Target.Kind, _ arn: IAMResource, fullArn: String) -> Result<Target, NoTarget> {
        guard let name = arn.path.last, isIAMName(name) else { return .failure(.invalidName(fullArn)) }
        return .success(Target(kind: kind, name: name, arn: fullArn, accountId: arn.account))
    }

    /// The roles IAM Identity Center makes for permission sets (path `/aws-reserved/sso.amazonaws.com/`).
    static func isIdentityCenterRole(_ name: String) -> Bool { name.hasPrefix("AWSReservedSSO_") }

    /// IAM's pattern for role and user names: `[\w+=,.@-]{1,64}`.
    static func isIAMName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { b in
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || "_+=,.@-".utf8.contains(b)
        }
    }

    /// The native `response` object.
    func write(to w: inout JSONWriter) { node.write(to: &w) }

    var node: JSONNode {
        var o = JSONObject()
        if let target, let cli = awsCLI, let document = policyDocument {
            o["aws_cli"] = .string(cli)
            o["policy_document"] = .string(document)
            o["policy_name"] = .string(Self.policyName)
            o["revoke_issued_before"] = .string(RFC3339.format(revokeIssuedBefore))
            var t = JSONObject()
            t["type"] = .string(target.kind.rawValue)
            t["name"] = .string(target.name)
            t["arn"] = target.arn.map(JSONNode.string)
            t["account_id"] = target.accountId.map(JSONNode.string)
            o["target"] = t.node
        }
        o["reason"] = reason.map(JSONNode.string)
        return o.node
    }

    /// One paragraph for a responder (OCSF `remediation.desc`).
    var summary: String {
        guard let target, let cli = awsCLI else { return "No revocation policy: \(reason ?? "")." }
        let account = target.accountId.map { " in account \($0)" } ?? ""
        return "Revoke the credentials: attach the inline policy \(Self.policyName) to the IAM \(target.kind.rawValue) "
            + "\(target.name)\(account). It denies every request made with credentials issued before "
            + "\(RFC3339.format(revokeIssuedBefore)), the stolen session's included; sessions issued later are "
            + "not affected. Then find where the credentials were taken from. AWS CLI: \(cli)"
    }
}

/// The parts of an ARN `arn:PARTITION:SERVICE:REGION:ACCOUNT:KIND/PATH.../NAME` the response reads.
struct IAMResource {
    var service: String
    var account: String?
    /// `role`, `user`, `assumed-role`, `root`, ...
    var kind: String
    /// The resource's parts after the kind (path parts, then the name).
    var path: [String]

    init?(_ arn: String) {
        let fields = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0] == "arn" else { return nil }
        service = String(fields[2])
        account = fields[4].isEmpty ? nil : String(fields[4])
        let resource = fields[5].split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        kind = resource[0]
        path = Array(resource.dropFirst())
    }
}
