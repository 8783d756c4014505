import Testing
@testable import CloudTrail

@Suite struct RFC3339Tests {
    @Test func wholeSeconds() {
        #expect(RFC3339.parse("2026-03-02T08:14:27Z") == utc(2026, 3, 2, 8, 14, 27))
        #expect(RFC3339.parse("1970-01-01T00:00:00Z") == EventTime(millisecondsSinceEpoch: 0))
    }

    @Test func fractionalSecondsAreTruncatedToMilliseconds() {
        #expect(RFC3339.parse("2026-03-02T08:03:41.512Z") == utc(2026, 3, 2, 8, 3, 41, ms: 512))
        #expect(RFC3339.parse("2026-03-02T08:03:41.5Z") == utc(2026, 3, 2, 8, 3, 41, ms: 500))
        #expect(RFC3339.parse("2026-03-02T08:03:41.004Z") == utc(2026, 3, 2, 8, 3, 41, ms: 4))
        #expect(RFC3339.parse("2026-03-02T08:03:41.123456789Z") == utc(2026, 3, 2, 8, 3, 41, ms: 123))
    }

    @Test func offsetsAreConvertedToUTC() {
        #expect(RFC3339.parse("2026-03-02T10:14:27+02:00") == utc(2026, 3, 2, 8, 14, 27))
        #expect(RFC3339.parse("2026-03-02T00:14:27.250-08:30") == utc(2026, 3, 2, 8, 44, 27, ms: 250))
        #expect(RFC3339.parse("2026-03-02T08:14:27+00:00") == utc(2026, 3, 2, 8, 14, 27))
        #expect(RFC3339.parse("2026-03-02t08:14:27z") == utc(2026, 3, 2, 8, 14, 27))
    }

    @Test func calendarRules() {
        #expect(RFC3339.parse("2024-02-29T00:00:00Z") == utc(2024, 2, 29, 0, 0, 0))
        #expect(RFC3339.parse("2000-02-29T00:00:00Z") != nil)
        #expect(RFC3339.parse("2026-02-29T00:00:00Z") == nil)
        #expect(RFC3339.parse("1900-02-29T00:00:00Z") == nil)
        #expect(RFC3339.parse("2026-04-31T00:00:00Z") == nil)
        #expect(RFC3339.parse("2026-12-31T23:59:60Z") == utc(2027, 1, 1, 0, 0, 0))  // leap second
    }

    @Test(arguments: [
        "", "2026-03-02", "2026-03-02T08:14:27", "2026-03-02 08:14:27Z", "2026-3-02T08:14:27Z",
        "2026-13-02T08:14:27Z", "2026-00-02T08:14:27Z", "2026-03-00T08:14:27Z", "2026-03-02T24:00:00Z",
        "2026-03-02T08:60:00Z", "2026-03-02T08:14:61Z", "2026-03-02T08:14:27.Z", "2026-03-02T08:14:27+0200",
        "2026-03-02T08:14:27+02", "2026-03-02T08:14:27Zjunk", "2026-03-02T08:14:27+24:00", "２026-03-02T08:14:27Z",
        "1772439267", "2026-03-02T08:14:27.12a4Z",
    ])
    func rejects(text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test func parseInvertsFormat() {
        var random = SeededRandom(seed: 3339)
        for _ in 0..<20_000 {
            let seconds = Int64.random(in: 0...(253_402_300_799), using: &random)  // 1970 ... 9999
            let time = EventTime(secondsSinceEpoch: seconds)
            #expect(RFC3339.parse(RFC3339.format(time)) == time)
        }
    }
}
