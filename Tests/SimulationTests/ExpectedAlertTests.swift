import CloudTrail
import Testing
@testable import Simulation

@Suite struct ExpectedAlertTests {
    @Test func jsonLinesRoundTrip() throws {
        let alerts = Sample.generator.expectedAlerts()
        let text = ExpectedAlert.encodeLines(alerts)
        #expect(text.split(separator: "\n").count == alerts.count)
        #expect(try ExpectedAlert.decodeLines(text + "\n\n") == alerts)
        let one = ExpectedAlert(principalArn: "arn:aws:sts::123456789012:assumed-role/deploy/alice",
                                windowStart: try #require(RFC3339.parse("2026-03-02T08:00:00Z")),
                                sourceAddresses: ["10.20.30.40", "2001:db8::1"])
        #expect(one.jsonLine == #"{"principal_arn":"arn:aws:sts::123456789012:assumed-role/deploy/alice","window_start":"2026-03-02T08:00:00Z","source_addresses":["10.20.30.40","2001:db8::1"]}"#)
        #expect(throws: SimulationError.self) { try ExpectedAlert(jsonLine: #"{"principal_arn":1}"#) }
    }

    @Test func readsTheComparablePartOfADetectorAlert() throws {
        let alert = #"{"alert_id":"3557a0e8","principal":{"account_id":"123456789012","arn":"arn:aws:sts::123456789012:assumed-role/deploy/alice","type":"AssumedRole"},"revision":2,"source_addresses":{"count":2,"count_exact":true,"values":["10.20.30.40","203.0.113.77"]},"status":"final","window":{"end":"2026-03-02T08:30:00Z","start":"2026-03-02T08:00:00Z"}}"#
        let (status, parsed) = try ExpectedAlert.fromDetectorAlert(Array(alert.utf8))
        #expect(status == "final")
        #expect(parsed == ExpectedAlert(principalArn: "arn:aws:sts::123456789012:assumed-role/deploy/alice",
                                        windowStart: EventTime(secondsSinceEpoch: 1_772_438_400),
                                        sourceAddresses: ["10.20.30.40", "203.0.113.77"]))
        #expect(throws: SimulationError.self) { try ExpectedAlert.fromDetectorAlert(Array("{}".utf8)) }
    }

    @Test func oracleRuleAndAddressOrder() {
        func counts(_ type: String?, _ arn: String?, _ key: String?, _ ip: String?, _ agent: String?) -> Bool {
            ExpectedAlerts.countedAddress(identityType: type, arn: arn, accessKeyId: key, sourceIPAddress: ip, userAgent: agent) != nil
        }
        let arn = "arn:aws:sts::1:assumed-role/r/s"
        #expect(counts("AssumedRole", arn, "ASIAX", "1.2.3.4", "aws-cli"))
        #expect(counts("IAMUser", arn, "ASIAX", "2001:db8::1", nil))
        #expect(!counts("Root", arn, "ASIAX", "1.2.3.4", "aws-cli"))
        #expect(!counts("AssumedRole", nil, "ASIAX", "1.2.3.4", "aws-cli"))
        #expect(!counts("AssumedRole", arn, "AKIAX", "1.2.3.4", "aws-cli"))
        #expect(!counts("AssumedRole", arn, "ASIAX", "ec2.amazonaws.com", "aws-cli"))
        #expect(!counts("AssumedRole", arn, "ASIAX", "1.2.3.4", "x TeRrAfOrM/1.0"))
        // Two spellings of one caller are one address; windows are epoch-aligned half hours.
        var oracle = ExpectedAlerts()
        let t = EventTime(secondsSinceEpoch: 1_772_438_400)
        for (ip, dt) in [("1.2.3.4", 0), ("::ffff:1.2.3.4", 60), ("2001:DB8::0001", 1799), ("5.6.7.8", 1800), ("10.0.0.1", -1)] {
            oracle.add(decoded: CloudTrailEvent(
                eventTime: EventTime(secondsSinceEpoch: 1_772_438_400 + Int64(dt)), sourceIPAddress: ip, userAgent: "aws-cli",
                userIdentity: UserIdentity(type: "AssumedRole", arn: arn, accessKeyId: "ASIAX")))
        }
        #expect(oracle.alerts == [ExpectedAlert(principalArn: arn, windowStart: t, sourceAddresses: ["1.2.3.4", "2001:db8::1"])])
        #expect(ExpectedAlerts.sortedAddresses(["2001:db8::1", "10.0.0.2", "9.0.0.1", "::1"]) == ["9.0.0.1", "10.0.0.2", "::1", "2001:db8::1"])
    }
}
