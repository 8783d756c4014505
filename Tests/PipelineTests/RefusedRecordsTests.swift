import KafkaClient
@testable import Pipeline
import Testing

/// The cut form a refused alert or dead letter takes on the dead-letter topic, and what a replay
/// recognises it by.
struct RefusedRecordsTests {
    let tooLarge = KafkaError(code: .messageTooLarge, message: "Broker: Message size too large")

    func alert(bytes: Int) -> KafkaProducedRecord {
        KafkaProducedRecord(topic: "alerts", key: Array("ASIAEXAMPLE".utf8), value: Array(repeating: UInt8(ascii: "a"), count: bytes), headers: [
            KafkaHeader("tokentrail.alert_id", "abc"), KafkaHeader("tokentrail.status", "open"),
            KafkaHeader("tokentrail.revision", "1"), KafkaHeader("content-type", "application/json"),
        ])
    }

    @Test func aRefusedAlertIsCutAndSaysWhereItWasGoingAndWhy() throws {
        let cut = try #require(RefusedRecords.cutForm(of: alert(bytes: 40_000), refusedBy: tooLarge, deadLetterTopic: "dlq"))
        #expect(cut.topic == "dlq" && cut.key == Array("ASIAEXAMPLE".utf8))
        #expect(cut.value.count == RefusedRecords.cutBytes)
        #expect(cut.header("tokentrail.alert_id") == "abc" && cut.header("tokentrail.revision") == "1")
        #expect(cut.header("tokentrail.error") == "record_refused")
        #expect(cut.header("tokentrail.refused.topic") == "alerts")
        #expect(cut.header("tokentrail.refused.error") == "MSG_SIZE_TOO_LARGE: Broker: Message size too large")
        #expect(cut.header("tokentrail.truncated") == "true" && cut.header("tokentrail.original_size") == "40000")
        #expect(cut.header("content-type") == nil, "a cut JSON value is not JSON")
    }

    @Test func aSmallRefusedAlertIsWholeAndNotMarkedCut() throws {
        let cut = try #require(RefusedRecords.cutForm(of: alert(bytes: 900), refusedBy: tooLarge, deadLetterTopic: "dlq"))
        #expect(cut.value.count == 900 && cut.header("tokentrail.truncated") == nil)
    }

    @Test func aRefusedDeadLetterKeepsItsReasonAndACutFormIsGivenUp() throws {
        let deadLetter = KafkaProducedRecord(topic: "dlq", key: nil, value: Array(repeating: 0, count: 500_000), headers: [
            KafkaHeader("tokentrail.error", "invalid_json"), KafkaHeader("tokentrail.source.topic", "cloudtrail"),
            KafkaHeader("tokentrail.source.partition", "3"), KafkaHeader("tokentrail.source.offset", "42"),
            KafkaHeader("tokentrail.truncated", "true"), KafkaHeader("tokentrail.original_size", "7000000"),
        ])
        let cut = try #require(RefusedRecords.cutForm(of: deadLetter, refusedBy: tooLarge, deadLetterTopic: "dlq"))
        #expect(cut.header("tokentrail.error") == "invalid_json")
        #expect(cut.headers.filter { $0.name == "tokentrail.original_size" }.map(\.stringValue) == ["500000"])
        #expect(RefusedRecords.cutForm(of: cut, refusedBy: tooLarge, deadLetterTopic: "dlq") == nil, "no loop of cut forms")
        #expect(RefusedRecords.identity(headers: deadLetter.headers) == "dead letter cloudtrail/3/42")
    }

    @Test func identitiesSurviveAReplayAndTheMemoryIsBounded() {
        #expect(RefusedRecords.identity(headers: alert(bytes: 1).headers) == "alert abc#1")
        #expect(RefusedRecords.identity(headers: []) == nil)
        #expect(RefusedRecords.isRefusal(tooLarge.code) && RefusedRecords.isRefusal(.invalidRecord))
        #expect(!RefusedRecords.isRefusal(.timedOut) && !RefusedRecords.isRefusal(.queueFull))
        var r = RefusedRecords()
        for i in 0..<25_000 { r.remember("alert \(i)#1") }
        #expect(r.remembered.count <= 10_000 && r.remembered.contains("alert 24999#1"))
    }

    /// Exactly-once, across aborts: a refused alert is replayed as its cut form, and the cut form itself
    /// is sent as it is (not cut again); if the cut form is refused too, both are given up rather than
    /// aborting every transaction for ever.
    @Test func theReplayAfterAnAbortSendsTheCutFormOnceAndGivesUpIfThatIsRefusedToo() throws {
        var r = RefusedRecords()
        let original = alert(bytes: 40_000)
        #expect(r.disposition(headers: original.headers) == .send)
        r.rememberRefusal(of: original)
        let cut = try #require(RefusedRecords.cutForm(of: original, refusedBy: tooLarge, deadLetterTopic: "dlq"))
        #expect(r.disposition(headers: original.headers) == .cutForm)
        #expect(r.disposition(headers: cut.headers) == .send, "the cut form goes out as it is")
        #expect(r.disposition(headers: alert(bytes: 10).headers.filter { $0.name != "tokentrail.alert_id" }) == .send)
        r.rememberRefusal(of: cut)
        #expect(r.disposition(headers: original.headers) == .giveUp)
        #expect(r.disposition(headers: cut.headers) == .giveUp)
    }
}
