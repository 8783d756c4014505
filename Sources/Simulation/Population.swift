import CloudTrail

/// One identity the generator makes events for, with everything fixed for the whole run.
struct Principal: Sendable {
    var category: TrafficCategory
    var identityType: String
    var arn: String?
    var accountId: String
    var principalId: String?
    var userName: String?
    /// The temporary `ASIA` key of its session, if it has one.
    var sessionKey: String?
    /// A long-term `AKIA` key (IAM users only).
    var longTermKey: String?
    var issuerArn: String?
    var issuerPrincipalId: String?
    var issuerUserName: String?
    var issuerType: String = "Role"
    var mfa: Bool
    var sessionCreated: Int64
    /// `sessionContext.sourceIdentity`: set for role sessions of people who signed in with MFA.
    var sourceIdentity: String? = nil
    /// The one real address its ordinary traffic comes from, canonical text.
    var homeAddress: String
    /// Ways the home address is written in `sourceIPAddress` (all the same address when parsed).
    var homeTexts: [String]
    /// Addresses of traffic that may come from many places (runners, laptops, attackers' noise).
    var addressPool: [String]
    var userAgents: [String]
    var console: Bool
    var region: String
    var invokedBy: String?
}

/// All principals of a run, built from the seed before the first event.
struct Population: Sendable {
    var principals: [Principal] = []
    var normal: [Int] = []
    var longTerm: [Int] = []
    var service: [Int] = []
    var automation: [Int] = []
    var other: [Int] = []
    var missingArn: [Int] = []

    static let accounts = ["123456789012", "210987654321", "444455556666", "777788889999", "314159265358"]
    static let regions = ["us-east-1", "us-east-1", "us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
    static let roles = [
        "OrganizationAccountAccessRole", "DataPipelineRole", "AWSReservedSSO_AdministratorAccess_4b1c2f9e3a7d8e61",
        "AWSReservedSSO_ReadOnlyAccess_9d8c7b6a5f4e3d21", "eks-node-group-role", "BillingAnalyst", "deploy",
        "ci-readonly", "SecurityAudit", "lambda-exec-orders", "ml-training-role", "support-engineer",
    ]
    static let people = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
        "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yasmin",
    ]
    static let ordinaryAgents = [
        "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22 prompt/off command/s3.ls",
        "aws-cli/2.13.25 Python/3.11.5 Darwin/23.4.0 exe/x86_64 prompt/off command/sts.get-caller-identity",
        "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#6.1.79 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51",
        "aws-sdk-java/2.25.6 Linux/5.10.210-201.852.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
        "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.51.1",
        "aws-sdk-js/3.540.0 ua/2.0 os/linux#5.10.209 lang/js md/nodejs#20.11.1 api/dynamodb#3.540.0",
    ]
    static let consoleAgents = [
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
    ]
    /// Automation user agents: each contains Terraform, Ansible or Pulumi in some letter case.
    static let automationAgents = [
        "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.40.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1",
        "ansible-core/2.16.4 python/3.11 Boto3/1.34.51 Botocore/1.34.51 amazon.aws/7.4.0",
        "pulumi-aws/v6.26.0 Pulumi/3.109.0 (linux; amd64) aws-sdk-go-v2/1.25.2",
        "aws-sdk-go/1.50.35 (go1.22.1; linux; amd64) TERRAFORM-RUNNER/2.1 exec-env/CodeBuild",
        "Boto3/1.34.51 Python/3.11.8 Linux/6.1 Botocore/1.34.51 AnSiBlE/9.3.0",
        "aws-sdk-js/3.540.0 pUlUmI-automation-api/3.109.0 os/darwin lang/js",
    ]
    static let attackerAgents = [
        "aws-cli/2.15.17 Python/3.11.6 Linux/6.6.9-amd64 exe/x86_64.kali.2024 prompt/off command/iam.list-users",
        "python-requests/2.31.0",
        "Boto3/1.34.40 md/Botocore#1.34.40 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.10.12 Botocore/1.34.40 pacu/1.5.3",
        "aws-sdk-go/1.44.0 (go1.20.4; windows; amd64)",
    ]
    static let serviceNames = [
        "ec2.amazonaws.com", "AWS Internal", "autoscaling.amazonaws.com", "lambda.amazonaws.com",
        "cloudformation.amazonaws.com", "elasticloadbalancing.amazonaws.com", "ssm.amazonaws.com",
    ]
    static let otherTypes = ["Root", "AWSService", "FederatedUser", "SAMLUser"]

    init(configuration c: SimulationConfiguration, rng: inout SplitMix64) {
        let start = c.startSeconds
        func session(_ i: Int) -> String {
            rng.chance(0.5) ? Population.people[i % Population.people.count] + "\(i / Population.people.count)"
                : "botocore-session-\(1_700_000_000 + rng.below(50_000_000))"
        }
        func make(_ category: TrafficCategory, _ index: Int) -> Principal {
            let account = rng.pick(Population.accounts)
            let role = rng.pick(Population.roles)
            let name = session(index)
            let roleId = "AROA" + Identifiers.base32(&rng, 17)
            let home = Addresses.owner(&rng)
            var p = Principal(
                category: category, identityType: "AssumedRole",
                arn: "arn:aws:sts::\(account):assumed-role/\(role)/\(name)", accountId: account,
                principalId: "\(roleId):\(name)", userName: nil,
                sessionKey: "ASIA" + Identifiers.base32(&rng, 16), longTermKey: nil,
                issuerArn: "arn:aws:iam::\(account):role/\(role)", issuerPrincipalId: roleId, issuerUserName: role,
                mfa: rng.chance(0.3), sessionCreated: start - Int64(rng.below(3600)),
                homeAddress: home.canonical, homeTexts: home.texts, addressPool: [],
                userAgents: [rng.pick(Population.ordinaryAgents)], console: false, region: rng.pick(Population.regions))
            // Derived, not drawn: the random stream (and so every other event) stays as it was.
            if p.mfa, !name.hasPrefix("botocore-session-") { p.sourceIdentity = "\(name)@example.com" }
            return p
        }
        func add(_ p: Principal, to list: WritableKeyPath<Population, [Int]>) {
            self[keyPath: list].append(principals.count)
            principals.append(unique(p))
        }
        let n = c.effectivePrincipalCount
        for i in 0..<n {
            var p = make(.normal, i)
            let roll = rng.below(100)
            if roll < 12 {
                // GetSessionToken: an IAM user with temporary credentials.
                let user = Population.people[i % Population.people.count] + ".\(i)"
                p.identityType = "IAMUser"
                p.arn = "arn:aws:iam::\(p.accountId):user/\(user)"
                p.principalId = "AIDA" + Identifiers.base32(&rng, 17)
                p.userName = user
                p.issuerArn = nil
                p.sourceIdentity = nil
                p.mfa = true
            } else if roll < 27 {
                p.console = true
                p.userAgents = [rng.pick(Population.consoleAgents)]
            } else if roll < 40 {
                p.userAgents.append(rng.pick(Population.ordinaryAgents))
            }
            add(p, to: \.normal)
        }
        for i in 0..<max(3, n / 20) {
            var p = make(.longTermKey, n + i)
            let user = "svc-" + Population.people[i % Population.people.count] + "-\(i)"
            p.identityType = "IAMUser"
            p.arn = "arn:aws:iam::\(p.accountId):user/\(user)"
            p.principalId = "AIDA" + Identifiers.base32(&rng, 17)
            p.userName = user
            p.issuerArn = nil
            p.longTermKey = "AKIA" + Identifiers.base32(&rng, 16)
            p.addressPool = (0..<8).map { _ in Addresses.owner(&rng).canonical }
            add(p, to: \.longTerm)
        }
        for i in 0..<max(3, n / 25) {
            var p = make(.serviceCaller, 2 * n + i)
            let service = rng.pick(["AutoScaling", "ElasticLoadBalancing", "CloudFormation", "SSM", "Lambda"])
            let role = "AWSServiceRoleFor\(service)"
            p.arn = "arn:aws:sts::\(p.accountId):assumed-role/\(role)/\(service)"
            p.principalId = (p.issuerPrincipalId ?? "") + ":\(service)"
            p.issuerArn = "arn:aws:iam::\(p.accountId):role/aws-service-role/\(role)"
            p.issuerUserName = role
            p.sourceIdentity = nil
            add(p, to: \.service)
        }
        for i in 0..<max(3, n / 30) {
            var p = make(.automation, 3 * n + i)
            // Two tools each, in turn, so even a small run has every tool and letter case.
            let agents = Population.automationAgents
            p.userAgents = [agents[(2 * i) % agents.count], agents[(2 * i + 1) % agents.count]]
            p.addressPool = (0..<6).map { _ in Addresses.owner(&rng).canonical }
            add(p, to: \.automation)
        }
        for i in 0..<max(4, n / 25) {
            var p = make(.otherIdentityType, 4 * n + i)
            let type = Population.otherTypes[i % Population.otherTypes.count]
            p.identityType = type
            p.issuerArn = nil
            p.issuerPrincipalId = nil
            p.addressPool = (0..<8).map { _ in Addresses.owner(&rng).canonical }
            switch type {
            case "Root":
                p.arn = "arn:aws:iam::\(p.accountId):root"
                p.principalId = p.accountId
                p.userAgents = [rng.pick(Population.consoleAgents)]
                p.console = true
                p.mfa = true
            case "AWSService":
                p.arn = nil
                p.principalId = nil
                p.sessionKey = nil
                p.invokedBy = rng.pick(["ec2.amazonaws.com", "config.amazonaws.com", "cloudtrail.amazonaws.com"])
                p.userAgents = [p.invokedBy ?? "AWS Internal"]
            case "FederatedUser":
                let user = Population.people[i % Population.people.count]
                p.arn = "arn:aws:sts::\(p.accountId):federated-user/\(user)"
                p.principalId = "\(p.accountId):\(user)"
                p.issuerType = "IAMUser"
                p.issuerPrincipalId = "AIDA" + Identifiers.base32(&rng, 17)
                p.issuerArn = "arn:aws:iam::\(p.accountId):user/federation-broker"
                p.issuerUserName = "federation-broker"
            default:  // SAMLUser: the AssumeRoleWithSAML caller, no ARN and no key of its own
                p.arn = nil
                p.principalId = "Xk2mJ9LqRfEXAMPLE:\(Population.people[i % Population.people.count])@example.com"
                p.userName = "\(Population.people[i % Population.people.count])@example.com"
                p.sessionKey = nil
            }
            add(p, to: \.other)
        }
        for i in 0..<max(2, n / 100) {
            var p = make(.missingArn, 5 * n + i)
            p.arn = nil
            p.addressPool = (0..<8).map { _ in Addresses.owner(&rng).canonical }
            add(p, to: \.missingArn)
        }
    }

    /// ARNs already taken: two principals sharing one would be one principal seen from two
    /// addresses, an alert nobody injected.
    var arns: Set<String> = []

    /// `p` with an ARN no earlier principal has (a suffix on the session or user name if needed).
    mutating func unique(_ p: Principal) -> Principal {
        guard let arn = p.arn else { return p }
        var q = p
        if arns.contains(arn) {
            q.arn = arn + "-\(principals.count)"
            q.principalId = p.principalId.map { $0 + "-\(principals.count)" }
        }
        arns.insert(q.arn ?? arn)
        return q
    }

    /// A fresh near-miss principal (never shared with other traffic, so its only two addresses
    /// fall in two different windows).
    mutating func addNearMiss(_ c: SimulationConfiguration, rng: inout SplitMix64) -> Int {
        let account = rng.pick(Population.accounts)
        let role = rng.pick(Population.roles)
        let index = principals.count
        let roleId = "AROA" + Identifiers.base32(&rng, 17)
        let name = "commuter-\(index)"
        let home = Addresses.owner(&rng)
        principals.append(unique(Principal(
            category: .nearMiss, identityType: "AssumedRole",
            arn: "arn:aws:sts::\(account):assumed-role/\(role)/\(name)", accountId: account,
            principalId: "\(roleId):\(name)", userName: nil, sessionKey: "ASIA" + Identifiers.base32(&rng, 16),
            longTermKey: nil, issuerArn: "arn:aws:iam::\(account):role/\(role)", issuerPrincipalId: roleId,
            issuerUserName: role, mfa: false, sessionCreated: c.startSeconds,
            homeAddress: home.canonical, homeTexts: home.texts, addressPool: [Addresses.distinct(from: [home.canonical], &rng)],
            userAgents: [rng.pick(Population.ordinaryAgents)], console: false, region: rng.pick(Population.regions))))
        return index
    }
}

/// Random identifiers in AWS's alphabets.
enum Identifiers {
    static let base32Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
    static let hex = Array("0123456789abcdef".utf8)

    static func base32(_ rng: inout SplitMix64, _ count: Int) -> String {
        String(decoding: (0..<count).map { _ in base32Alphabet[rng.below(32)] }, as: UTF8.self)
    }

    /// A version-4 UUID in lowercase text.
    static func uuid(_ rng: inout SplitMix64) -> String {
        let a = rng.next(), b = rng.next()
        var bytes = [UInt8]()
        bytes.reserveCapacity(36)
        for i in 0..<32 {
            if i == 8 || i == 12 || i == 16 || i == 20 { bytes.append(UInt8(ascii: "-")) }
            var nibble = Int((i < 16 ? a >> UInt64(60 - 4 * i) : b >> UInt64(60 - 4 * (i - 16))) & 0xF)
            if i == 12 { nibble = 4 }
            if i == 16 { nibble = 8 | (nibble & 3) }
            bytes.append(hex[nibble])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Source addresses: owners' (IPv4 mostly, some IPv6 written in several text forms) and attackers'.
enum Addresses {
    static let ownerFirstOctets = [3, 13, 18, 34, 35, 44, 52, 54, 63, 72, 98, 100, 108, 136, 145, 192, 198, 203, 10, 172]
    static let attackerFirstOctets = [5, 23, 31, 37, 45, 77, 80, 89, 91, 103, 146, 176, 185, 193, 194, 212]

    /// An owner's address: canonical text plus the spellings CloudTrail may use for it.
    static func owner(_ rng: inout SplitMix64) -> (canonical: String, texts: [String]) {
        if rng.chance(0.1) {
            let groups = [0x2600, 0x1f18, rng.below(0x10000), rng.below(0x10000), rng.below(0x10000),
                          rng.below(0x10000), rng.below(0x10000), 1 + rng.below(0xFFFF)]
            let canonical = SourceAddress(parsing: groups.map { String($0, radix: 16) }.joined(separator: ":")).canonicalText
            // Same address, non-canonical: leading zeros, upper case.
            let expanded = groups.map { g -> String in
                let h = String(g, radix: 16, uppercase: true)
                return String(repeating: "0", count: 4 - h.count) + h
            }.joined(separator: ":")
            return (canonical, [canonical, expanded])
        }
        let text = "\(rng.pick(ownerFirstOctets)).\(rng.below(256)).\(rng.below(256)).\(1 + rng.below(254))"
        // Some stacks report an IPv4 caller as IPv4-mapped IPv6: the same caller, one address.
        return rng.chance(0.1) ? (text, [text, "::ffff:" + text]) : (text, [text])
    }

    static func attacker(_ rng: inout SplitMix64) -> String {
        if rng.chance(0.3) {
            let groups = [0x2a0b, rng.below(0x10000), rng.below(0x10000), 0, 0, rng.below(0x10000), 0, 1 + rng.below(0xFFFF)]
            return SourceAddress(parsing: groups.map { String($0, radix: 16) }.joined(separator: ":")).canonicalText
        }
        return "\(rng.pick(attackerFirstOctets)).\(rng.below(256)).\(rng.below(256)).\(1 + rng.below(254))"
    }

    /// An attacker address that differs from every address in `taken`.
    static func distinct(from taken: [String], _ rng: inout SplitMix64) -> String {
        while true {
            let a = attacker(&rng)
            if !taken.contains(a) { return a }
        }
    }
}
