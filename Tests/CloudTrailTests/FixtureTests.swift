import Testing
@testable import CloudTrail

/// Each documented CloudTrail shape decodes to the fields written in its fixture.
@Suite struct FixtureTests {
    let decoder = CloudTrailDecoder()

    func single(_ name: String) throws -> CloudTrailEvent {
        let result = decoder.decode(Fixture.event(name))
        #expect(result.errors.isEmpty, "\(result.errors)")
        return try #require(result.events.first)
    }

    @Test func iamUserWithSessionToken() throws {
        let e = try single("iam-user-session-token")
        #expect(e.eventTime == utc(2026, 3, 2, 8, 14, 27))
        #expect(e.userIdentity.type == "IAMUser")
        #expect(e.userIdentity.arn == "arn:aws:iam::123456789012:user/Alice")
        #expect(e.userIdentity.accountId == "123456789012")
        #expect(e.userIdentity.principalId == "AIDAJ45Q7YFFAREXAMPLE")
        #expect(e.userIdentity.userName == "Alice")
        #expect(e.userIdentity.accessKeyId == "ASIAY34FZKBOKMUTVV7A")
        #expect(e.userIdentity.mfaAuthenticated == true)
        #expect(e.userIdentity.sessionIssuerArn == nil)
        #expect(e.userIdentity.sessionCreationDate == "2026-03-02T07:41:09Z")
        #expect(e.userIdentity.sourceIdentity == nil)
        #expect(e.eventID == "0f6b2c4e-8a1d-4b3c-9e5f-7d6c5b4a3e2f")
        #expect(e.eventSource == "ec2.amazonaws.com")
        #expect(e.eventName == "DescribeInstances")
        #expect(e.eventCategory == "Management")
        #expect(e.awsRegion == "us-east-1")
        #expect(e.sourceIPAddress == "198.51.100.23")
        #expect(e.sourceAddress == .ipv4(198 << 24 | 51 << 16 | 100 << 8 | 23))
        #expect(e.userAgent?.hasPrefix("aws-cli/2.15.30") == true)
        #expect(e.recipientAccountId == "123456789012")
        #expect(e.errorCode == nil)
        #expect(e.sessionCredentialFromConsole == false)
    }

    @Test func assumedRoleWithSessionIssuer() throws {
        let e = try single("assumed-role")
        #expect(e.eventTime == utc(2026, 3, 2, 8, 3, 41, ms: 512))
        #expect(e.userIdentity.type == "AssumedRole")
        #expect(e.userIdentity.arn == "arn:aws:sts::123456789012:assumed-role/DeployRole/deploy-session")
        #expect(e.userIdentity.sessionIssuerArn == "arn:aws:iam::123456789012:role/DeployRole")
        #expect(e.userIdentity.mfaAuthenticated == false)
        #expect(e.userIdentity.sessionCreationDate == "2026-03-02T07:55:01Z")
        // `userName` inside sessionIssuer is not the identity's userName.
        #expect(e.userIdentity.userName == nil)
        #expect(e.eventCategory == "Data")
        #expect(e.sourceAddress.canonicalText == "203.0.113.77")
    }

    @Test func consoleSession() throws {
        let e = try single("console-session")
        #expect(e.sessionCredentialFromConsole)
        #expect(e.userIdentity.accessKeyId == "ASIAQNZ7EXAMPLE2CONS")
    }

    @Test func serviceCallingForAUserIsNotAnAddress() throws {
        let e = try single("service-caller")
        #expect(e.sourceIPAddress == "ec2.amazonaws.com")
        #expect(e.sourceAddress == .notAnAddress)
    }

    @Test func awsInternal() throws {
        let e = try single("aws-internal")
        #expect(e.sourceIPAddress == "AWS Internal")
        #expect(e.sourceAddress == .notAnAddress)
        #expect(e.userIdentity.type == "AWSService")
        #expect(e.userIdentity.arn == nil)
        #expect(e.userIdentity.accessKeyId == nil)
    }

    @Test func ipv6Caller() throws {
        let e = try single("ipv6-caller")
        #expect(e.sourceIPAddress == "2001:0db8:85a3:0000:0000:8a2e:0370:7334")
        #expect(e.sourceAddress.canonicalText == "2001:db8:85a3::8a2e:370:7334")
        #expect(e.eventTime == utc(2026, 3, 2, 8, 9, 17, ms: 4))
    }

    @Test func rootUser() throws {
        let e = try single("root-user")
        #expect(e.userIdentity.type == "Root")
        #expect(e.userIdentity.arn == "arn:aws:iam::123456789012:root")
        #expect(e.userIdentity.accessKeyId == "")
        #expect(e.eventName == "ConsoleLogin")
    }

    @Test func eventWithErrorCode() throws {
        let e = try single("error-event")
        #expect(e.errorCode == "AccessDenied")
        #expect(e.eventTime == utc(2026, 3, 2, 8, 31, 12))
        // `::ffff:203.0.113.9` is the IPv4 caller it maps.
        #expect(e.sourceAddress == SourceAddress(parsing: "203.0.113.9"))
    }

    @Test func decodedFieldsAgreeWithTheGenericInitialiser() throws {
        // The memberwise initialiser classifies the raw text the same way the decoder does.
        for name in Fixture.eventNames {
            let e = try single(name)
            let rebuilt = CloudTrailEvent(eventTime: e.eventTime, sourceIPAddress: e.sourceIPAddress)
            #expect(rebuilt.sourceAddress == e.sourceAddress, "\(name)")
        }
    }
}
