import CloudTrail
import Testing

@testable import Detection

@Suite("The rule: which events count")
struct DetectionRuleTests {
    let rule = DetectionRule()
    let origin = EventOrigin(topic: "cloudtrail", partition: 3, offset: 42)

    func reason(_ event: CloudTrailEvent, _ rule: DetectionRule? = nil) -> RejectReason? {
        if case .failure(let r) = (rule ?? self.rule).evaluate(event, origin: origin) { return r }
        return nil
    }

    @Test func keepsATemporaryKeyFromAnAddressAndStampsItsOrigin() throws {
        let event = makeEvent(time: baseTime, address: ipv4("198.51.100.7"))
        let observation = try rule.evaluate(event, origin: origin).get()
        #expect(observation.groupingKey == "arn:aws:sts::123456789012:assumed-role/deploy/alice")
        #expect(observation.address == ipv4("198.51.100.7"))
        #expect(observation.origin == origin)
        #expect(observation.accountId == "123456789012")
        #expect(observation.eventName == "ListBuckets")
    }

    @Test(arguments: ["ec2.amazonaws.com", "AWS Internal", "", "10.0.0.256"])
    func serviceNamesNeverCount(_ text: String) {
        let event = CloudTrailEvent(
            eventTime: at(baseTime), sourceIPAddress: text,
            userIdentity: UserIdentity(type: "AssumedRole", arn: "arn:x", accessKeyId: "ASIAX")
        )
        #expect(reason(event) == .notAnAddress)
    }

    @Test(arguments: ["Terraform/1.7.0", "APN/1.0 HashiCorp/1.0 terraform/1.5.7", "ansible-core/2.16",
                      "pulumi/3.100 (linux)", "Boto3/1.34 Botocore/1.34 PULUMI"])
    func automationUserAgentsNeverCountWhateverTheCase(_ agent: String) {
        #expect(reason(makeEvent(time: baseTime, address: ipv4("192.0.2.1"), userAgent: agent)) == .excludedUserAgent)
    }

    @Test func aMissingUserAgentStillCounts() {
        #expect(reason(makeEvent(time: baseTime, address: ipv4("192.0.2.1"), userAgent: nil)) == nil)
    }

    @Test func longTermKeysAndOtherIdentityTypesNeverCount() {
        #expect(reason(makeEvent(time: baseTime, address: ipv4("192.0.2.1"), accessKeyId: "AKIAEXAMPLE")) == .accessKeyPrefix)
        for type in ["Root", "AWSService", "FederatedUser", "AWSAccount", "IdentityCenterUser"] {
            #expect(reason(makeEvent(time: baseTime, address: ipv4("192.0.2.1"), type: type)) == .identityType)
        }
        #expect(reason(makeEvent(time: baseTime, address: ipv4("192.0.2.1"), type: "IAMUser")) == nil)
        var noArn = makeEvent(time: baseTime, address: ipv4("192.0.2.1"))
        noArn.userIdentity.arn = nil
        #expect(reason(noArn) == .missingPrincipalArn)
        var noKey = makeEvent(time: baseTime, address: ipv4("192.0.2.1"))
        noKey.userIdentity.accessKeyId = nil
        #expect(reason(noKey) == .accessKeyPrefix)
    }

    @Test func allowlistsAndExclusions() throws {
        var configuration = RuleConfiguration.seed
        configuration.allowedNetworks = [try #require(CIDRBlock(parsing: "203.0.113.0/24"))]
        configuration.allowedPrincipals = [PrincipalPattern("arn:aws:sts::*:assumed-role/ci-*/*")]
        configuration.excludedEventSources = ["health.amazonaws.com"]
        configuration.excludeConsoleSessions = true
        let rule = DetectionRule(configuration)
        #expect(reason(makeEvent(time: baseTime, address: ipv4("203.0.113.200")), rule) == .allowlistedAddress)
        #expect(reason(makeEvent(time: baseTime, address: ipv4("203.0.114.1")), rule) == nil)
        #expect(reason(makeEvent(time: baseTime, address: ipv4("192.0.2.1"),
                                 arn: "arn:aws:sts::123456789012:assumed-role/ci-runner/job-7"), rule) == .allowlistedPrincipal)
        #expect(reason(makeEvent(time: baseTime, address: ipv4("192.0.2.1"), eventSource: "health.amazonaws.com"), rule)
                == .excludedEventSource)
        #expect(reason(makeEvent(time: baseTime, address: ipv4("192.0.2.1"), console: true), rule) == .consoleSession)
        #expect(reason(makeEvent(time: baseTime, address: ipv4("192.0.2.1"), console: true)) == nil, "console sessions count in seed")
    }

    @Test func ipv6NetworksAndPrefixNormalisation() throws {
        let host = SourceAddress.ipv6(high: 0x2001_0db8_0001_0002, low: 0x0000_0000_0000_00AA)
        let block = try #require(CIDRBlock(address: .ipv6(high: 0x2001_0db8_0000_0000, low: 0), prefixLength: 32))
        #expect(block.contains(host))
        #expect(!block.contains(.ipv6(high: 0x2001_0db9_0000_0000, low: 1)))
        #expect(!block.contains(ipv4("32.1.13.184")))
        var configuration = RuleConfiguration.seed
        configuration.addressNormalization = .ipv6Prefix64
        let o = try DetectionRule(configuration).evaluate(makeEvent(time: baseTime, address: host), origin: origin).get()
        #expect(o.address == .ipv6(high: 0x2001_0db8_0001_0002, low: 0))
        #expect(try rule.evaluate(makeEvent(time: baseTime, address: host), origin: origin).get().address == host)
    }

    @Test func cidrBlocksParseBothFamilies() throws {
        let v6 = try #require(CIDRBlock(parsing: "2001:db8::/32"))
        #expect(v6.contains(.ipv6(high: 0x2001_0db8_ffff_0000, low: 1)))
        #expect(!v6.contains(.ipv6(high: 0x2001_0db9_0000_0000, low: 1)))
        #expect(v6.description == "2001:db8::/32")
        let v4 = try #require(CIDRBlock(parsing: "10.1.2.3/8"))
        #expect(v4.description == "10.0.0.0/8")
        #expect(CIDRBlock(parsing: "10.0.0.1")?.prefixLength == 32)
        for bad in ["10.0.0.0/33", "ec2.amazonaws.com/8", "2001:db8::/129", "10.0.0.0/", "/8", "10.0.0.0/x"] {
            #expect(CIDRBlock(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test func groupingByAccessKey() throws {
        var configuration = RuleConfiguration.seed
        configuration.groupingKey = .accessKeyId
        let o = try DetectionRule(configuration).evaluate(makeEvent(time: baseTime, address: ipv4("192.0.2.1")), origin: origin).get()
        #expect(o.groupingKey == "ASIAEXAMPLEKEY000001")
    }

    @Test func principalPatterns() {
        #expect(PrincipalPattern("arn:aws:iam::1:user/bob").matches("arn:aws:iam::1:user/bob"))
        #expect(!PrincipalPattern("arn:aws:iam::1:user/bob").matches("arn:aws:iam::1:user/bobby"))
        #expect(PrincipalPattern("*").matches("anything"))
        #expect(PrincipalPattern("a*b*c").matches("abc"))
        #expect(PrincipalPattern("a*b*c").matches("a-x-b-y-c"))
        #expect(!PrincipalPattern("a*b*c").matches("a-x-c-b"))
        #expect(!PrincipalPattern("ab*ba").matches("aba"))
    }

    @Test func rejectReasonLabelsAreStable() {
        #expect(RejectReason.allCases.map(\.label) == [
            "identity_type", "missing_principal_arn", "access_key_prefix", "not_an_address", "excluded_user_agent",
            "excluded_event_source", "console_session", "allowlisted_address", "allowlisted_principal",
            "allowlisted_account", "event_time_out_of_range", "excluded_network", "exception",
        ])
        #expect(reason(makeEvent(time: -5, address: ipv4("192.0.2.1"))) == .eventTimeOutOfRange)
    }
}
