import CloudTrail
import Testing
@testable import Simulation

/// The generator's JSON is what its structured fields say, as tokentrail's own decoder reads it.
@Suite struct DecodingTests {
    let decoder = CloudTrailDecoder()

    @Test func everyEventDecodesToItsFields() throws {
        var oracle = ExpectedAlerts()
        for e in Sample.events {
            let result = decoder.decode(e.json)
            #expect(result.errors.isEmpty, "\(result.errors) in \(String(decoding: e.json, as: UTF8.self))")
            let d = try #require(result.events.first)
            #expect(result.events.count == 1)
            let f = e.fields
            #expect(d.eventTime == e.eventTime)
            #expect(d.eventID == e.eventID)
            #expect(d.eventSource == f.eventSource && d.eventName == f.eventName && d.awsRegion == f.awsRegion)
            #expect(d.sourceIPAddress == f.sourceIPAddress && d.userAgent == f.userAgent)
            #expect(d.errorCode == f.errorCode)
            #expect(d.sessionCredentialFromConsole == f.sessionCredentialFromConsole)
            #expect(d.recipientAccountId == f.accountId && d.eventCategory == "Management")
            let u = d.userIdentity
            #expect(u.type == f.identityType && u.arn == f.arn && u.accountId == f.accountId)
            #expect(u.principalId == f.principalId && u.userName == f.userName && u.accessKeyId == f.accessKeyId)
            #expect(u.mfaAuthenticated == f.mfaAuthenticated && u.sessionIssuerArn == f.sessionIssuerArn)
            #expect(u.sourceIdentity == f.sourceIdentity)
            oracle.add(decoded: d)
        }
        #expect(oracle.alerts == Sample.generator.expectedAlerts())
        #expect(oracle.countedEvents > Sample.events.count / 2)
    }

    @Test func theMixHasEveryShape() {
        let fields = Sample.events.map(\.fields)
        #expect(Set(fields.map(\.identityType)) == ["AssumedRole", "IAMUser", "Root", "AWSService", "FederatedUser", "SAMLUser"])
        #expect(fields.contains { $0.accessKeyId?.hasPrefix("AKIA") == true })
        #expect(fields.contains { $0.sourceIPAddress == "AWS Internal" })
        #expect(fields.contains { $0.sourceIPAddress.hasSuffix(".amazonaws.com") })
        #expect(fields.contains { $0.sourceIPAddress.hasPrefix("::ffff:") }, "IPv4-mapped spelling of an owner address")
        #expect(fields.contains { $0.errorCode != nil })
        #expect(fields.contains { $0.sessionCredentialFromConsole })
        #expect(fields.contains { $0.arn == nil && $0.identityType == "AssumedRole" })
        #expect(fields.contains { $0.sourceIdentity != nil }, "role sessions with a source identity")
        for word in ["terraform", "ansible", "pulumi"] {
            #expect(fields.contains { $0.userAgent?.lowercased().contains(word) == true })
        }
        #expect(fields.contains { ($0.userAgent ?? "").contains("TERRAFORM") || ($0.userAgent ?? "").contains("pUlUmI") })
    }
}
