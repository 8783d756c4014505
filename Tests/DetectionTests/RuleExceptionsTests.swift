import CloudTrail
import Synchronization
import Testing

@testable import Detection

/// A file's snapshot, fixed: what `ExceptionsFile` hands the rule, without the file.
struct FixedExceptions: RuleExceptionsSource {
    let exceptions: RuleExceptions
    func current() -> RuleExceptions { exceptions }
}

/// Every address in 192.0.2.0/24 belongs to one AS organisation; nothing else is known.
struct OneOrganization: AddressEnricher {
    func enrich(_ address: SourceAddress) -> AddressEnrichment? {
        CIDRBlock(parsing: "192.0.2.0/24")!.contains(address) ? AddressEnrichment(asn: 64_500, asOrganization: "EXAMPLE-VPN") : nil
    }
    var hasASN: Bool { true }
    var hasCity: Bool { false }
}

final class ExpiryLog: Sendable {
    let entries = Mutex<[(String, EventTime)]>([])
}

@Suite("Exceptions and allowed accounts")
struct RuleExceptionsTests {
    let origin = EventOrigin(topic: "cloudtrail", partition: 0, offset: 1)

    func reason(_ event: CloudTrailEvent, _ rule: DetectionRule) -> RejectReason? {
        if case .failure(let r) = rule.evaluate(event, origin: origin) { return r }
        return nil
    }

    func entry(_ name: String, expires: EventTime? = nil, _ build: (inout ExceptionMatch) -> Void) -> RuleException {
        var m = ExceptionMatch()
        build(&m)
        return RuleException(name: name, comment: "test", owner: "team-\(name)", expires: expires, match: m, tally: ExceptionTally(name: name))
    }

    func rule(_ entries: [RuleException], enricher: (any AddressEnricher)? = nil, log: ExpiryLog? = nil) -> DetectionRule {
        let exceptions = RuleExceptions(entries) { e, t in log?.entries.withLock { $0.append((e.name, t)) } }
        return DetectionRule(.seed, enricher: enricher, exceptions: FixedExceptions(exceptions: exceptions))
    }

    @Test func allowedAccountsMatchThePrincipalsAccountNotTheRecipient() {
        var c = RuleConfiguration.seed
        c.allowedAccounts = ["123456789012"]
        let r = DetectionRule(c)
        #expect(reason(makeEvent(time: baseTime, address: ipv4("198.51.100.7")), r) == .allowlistedAccount)
        // No userIdentity.accountId: the ARN's account field says whose principal it is.
        var fromArn = makeEvent(time: baseTime, address: ipv4("198.51.100.7"))
        fromArn.userIdentity.accountId = nil
        #expect(reason(fromArn, r) == .allowlistedAccount)
        fromArn.userIdentity.arn = "arn:aws:sts::210987654321:assumed-role/deploy/alice"
        #expect(reason(fromArn, r) == nil)
        // A principal of another account calling into the allowed one still counts.
        var other = makeEvent(time: baseTime, address: ipv4("198.51.100.7"), arn: "arn:aws:sts::210987654321:assumed-role/x/y")
        other.userIdentity.accountId = "210987654321"
        other.recipientAccountId = "123456789012"
        #expect(reason(other, r) == nil)
        #expect(reason(makeEvent(time: baseTime, address: ipv4("198.51.100.7")), DetectionRule()) == nil)
    }

    @Test func aCIDRExceptionDropsTheEventsOfThatRangeAndCountsThem() throws {
        let vpn = entry("corp-vpn") { $0.networks = [CIDRBlock(parsing: "203.0.113.0/24")!, CIDRBlock(parsing: "2001:db8:100::/48")!] }
        let r = rule([vpn])
        #expect(reason(makeEvent(time: baseTime, address: ipv4("203.0.113.9")), r) == .exception)
        #expect(reason(makeEvent(time: baseTime, address: .ipv6(high: 0x2001_0db8_0100_0007, low: 1)), r) == .exception)
        #expect(reason(makeEvent(time: baseTime, address: ipv4("203.0.114.9")), r) == nil)
        #expect(vpn.tally.matches == 2)
    }

    @Test func everyKeyOfAMatchMustHoldAndAListHoldsOnAnyValue() {
        let scanner = entry("scanner") {
            $0.principals = [PrincipalPattern("arn:aws:sts::123456789012:assumed-role/deploy/*")]
            $0.eventSources = ["s3.amazonaws.com", "kms.amazonaws.com"]
            $0.userAgentSubstrings = ["Prowler"]
            $0.accounts = ["123456789012"]
        }
        let r = rule([scanner])
        let prowler = "aws-cli/2.15.0 prowler/4.0"  // case differs from the entry's
        #expect(reason(makeEvent(time: baseTime, address: ipv4("198.51.100.7"), userAgent: prowler), r) == .exception)
        #expect(reason(makeEvent(time: baseTime, address: ipv4("198.51.100.7"), userAgent: prowler, eventSource: "kms.amazonaws.com"), r) == .exception)
        #expect(reason(makeEvent(time: baseTime, address: ipv4("198.51.100.7"), userAgent: prowler, eventSource: "iam.amazonaws.com"), r) == nil)
        #expect(reason(makeEvent(time: baseTime, address: ipv4("198.51.100.7")), r) == nil, "user agent differs")
        #expect(reason(makeEvent(time: baseTime, address: ipv4("198.51.100.7"), arn: "arn:aws:sts::123456789012:assumed-role/other/x",
                                 userAgent: prowler), r) == nil, "principal differs")
        #expect(reason(makeEvent(time: baseTime, address: ipv4("198.51.100.7"), userAgent: nil), r) == nil, "no user agent")
        #expect(scanner.tally.matches == 2)
    }

    @Test func anASOrganisationExceptionReadsTheEnrichment() {
        let vpn = entry("vpn-as") { $0.asOrganizations = ["EXAMPLE-VPN"] }
        let r = rule([vpn], enricher: OneOrganization())
        #expect(reason(makeEvent(time: baseTime, address: ipv4("192.0.2.44")), r) == .exception)
        #expect(reason(makeEvent(time: baseTime, address: ipv4("198.51.100.7")), r) == nil, "unknown organisation: never excepted")
        #expect(reason(makeEvent(time: baseTime, address: ipv4("192.0.2.44")), rule([vpn])) == nil, "no enrichment: never excepted")
    }

    @Test func anExpiredExceptionStopsMatchingByEventTimeAndIsReportedOnce() {
        let expires = at(baseTime + 600)
        let log = ExpiryLog()
        let old = entry("old-vpn", expires: expires) { $0.networks = [CIDRBlock(parsing: "203.0.113.0/24")!] }
        let r = rule([old], log: log)
        #expect(reason(makeEvent(time: baseTime + 599, address: ipv4("203.0.113.9")), r) == .exception)
        #expect(reason(makeEvent(time: baseTime + 600, address: ipv4("203.0.113.9")), r) == nil)
        #expect(reason(makeEvent(time: baseTime + 900, address: ipv4("203.0.113.10")), r) == nil)
        // Out of order, as a replay may be: an event before the expiry is still excepted.
        #expect(reason(makeEvent(time: baseTime + 10, address: ipv4("203.0.113.9")), r) == .exception)
        #expect(reason(makeEvent(time: baseTime + 901, address: ipv4("198.51.100.1")), r) == nil)
        let logged = log.entries.withLock { $0 }
        #expect(logged.map(\.0) == ["old-vpn"])
        #expect(logged.first?.1 == at(baseTime + 600))
        #expect(old.tally.matches == 2)
    }

    @Test func theFirstMatchingEntryInForceCountsTheEvent() {
        let expired = entry("expired", expires: at(baseTime - 1)) { $0.networks = [CIDRBlock(parsing: "203.0.113.0/24")!] }
        let wide = entry("wide") { $0.networks = [CIDRBlock(parsing: "203.0.0.0/16")!] }
        let narrow = entry("narrow") { $0.networks = [CIDRBlock(parsing: "203.0.113.9/32")!] }
        let r = rule([expired, wide, narrow])
        #expect(reason(makeEvent(time: baseTime, address: ipv4("203.0.113.9")), r) == .exception)
        #expect((expired.tally.matches, wide.tally.matches, narrow.tally.matches) == (0, 1, 0))
    }

    @Test func anEventOtherwiseExcludedIsNotCountedByAnException() {
        let all = entry("everything-v4") { $0.networks = [CIDRBlock(parsing: "0.0.0.0/0")!] }
        let r = rule([all])
        #expect(reason(makeEvent(time: baseTime, address: ipv4("198.51.100.7"), accessKeyId: "AKIAEXAMPLE"), r) == .accessKeyPrefix)
        #expect(all.tally.matches == 0)
    }

    /// The pipeline's form: events lent in place, the snapshot read once for the batch.
    @Test func lentEventsGetTheSameAnswerWithTheSnapshotPassed() {
        let vpn = entry("corp-vpn") { $0.networks = [CIDRBlock(parsing: "203.0.113.0/24")!] }
        var c = RuleConfiguration.seed
        c.allowedAccounts = ["111122223333"]
        let r = DetectionRule(c, exceptions: FixedExceptions(exceptions: RuleExceptions([vpn])))
        func event(_ address: String, _ arn: String) -> String {
            #"{"eventTime":"2026-03-02T08:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"\#(address)","userIdentity":{"type":"AssumedRole","arn":"\#(arn)","accessKeyId":"ASIAEXAMPLE"}}"#
        }
        let record = "{\"Records\":[" + [
            event("203.0.113.9", "arn:aws:sts::123456789012:assumed-role/a/b"),
            event("198.51.100.1", "arn:aws:sts::111122223333:assumed-role/a/b"),
            event("198.51.100.1", "arn:aws:sts::123456789012:assumed-role/a/b"),
        ].joined(separator: ",") + "]}"
        let decoder = CloudTrailDecoder(fields: DetectionRule.fieldsRead)
        var result = CloudTrailDecodeResult()
        var lent: [RejectReason?] = [], without: [RejectReason?] = [], made: [RejectReason?] = []
        let snapshot = r.exceptionsInForce()
        decoder.decodeEach(Array(record.utf8), into: &result) { e in
            lent.append(r.keep(e, exceptions: snapshot).failure)
            without.append(r.keep(e, exceptions: nil).failure)
            made.append(r.evaluate(e.event(), origin: origin).failure)
        }
        #expect(lent == [.exception, .allowlistedAccount, nil])
        #expect(made == lent)
        #expect(without == [nil, .allowlistedAccount, nil])
        #expect(vpn.tally.matches == 2)
        #expect(DetectionRule().exceptionsInForce() == nil)
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let f) = self { return f }
        return nil
    }
}
