/// RFC 3339 formatting in UTC without Foundation (days-from-civil, Howard Hinnant's algorithm).
public enum RFC3339 {
    /// `YYYY-MM-DDTHH:MM:SSZ`, whole seconds (truncated toward the past).
    public static func format(_ time: EventTime) -> String {
        let ms = time.millisecondsSinceEpoch
        let secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400
        let sod = secs - days * 86400
        let (y, m, d) = civil(fromDays: days)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let year = String(y)
        let paddedYear = String(repeating: "0", count: max(0, 4 - year.count)) + year
        return "\(paddedYear)-\(two(m))-\(two(d))T\(two(sod / 3600)):\(two(sod / 60 % 60)):\(two(sod % 60))Z"
    }

    /// Days since 1970-01-01 for a proleptic Gregorian date.
    public static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

extension RFC3339 {
    /// Parses RFC 3339 (`2026-03-02T08:00:00Z`, `...00.123Z`, `...00+02:00`) to milliseconds, UTC.
    ///
    /// Strict on shape and ranges (month, day of that month, hour, minute; second 60 for a leap
    /// second); fractional digits beyond milliseconds are truncated. `nil` for anything else.
    public static func parse(_ text: String) -> EventTime? {
        var text = text
        return text.withUTF8 { parse(utf8: UnsafeRawBufferPointer($0)) }
    }

    /// The same over raw UTF-8 bytes: the decoder calls this on the bytes inside the JSON string.
    public static func parse(utf8 bytes: UnsafeRawBufferPointer) -> EventTime? {
        let n = bytes.count
        guard n >= 20, let base = bytes.baseAddress else { return nil }
        let p = base.assumingMemoryBound(to: UInt8.self)
        @inline(__always) func digits(_ at: Int, _ count: Int) -> Int64? {
            var v: Int64 = 0
            for i in at..<(at + count) {
                let d = p[i] &- UInt8(ascii: "0")
                guard d < 10 else { return nil }
                v = v * 10 + Int64(d)
            }
            return v
        }
        guard let year = digits(0, 4), p[4] == UInt8(ascii: "-"),
              let month = digits(5, 2), p[7] == UInt8(ascii: "-"),
              let day = digits(8, 2), p[10] | 0x20 == UInt8(ascii: "t"),
              let hour = digits(11, 2), p[13] == UInt8(ascii: ":"),
              let minute = digits(14, 2), p[16] == UInt8(ascii: ":"),
              let second = digits(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
              hour <= 23, minute <= 59, second <= 60
        else { return nil }
        var i = 19
        var millis: Int64 = 0
        if p[i] == UInt8(ascii: ".") {
            i += 1
            let s = i
            var scale: Int64 = 100
            while i < n, p[i] &- UInt8(ascii: "0") < 10 {
                millis += Int64(p[i] &- UInt8(ascii: "0")) * scale
                scale /= 10
                i += 1
            }
            guard i > s else { return nil }
        }
        guard i < n else { return nil }
        var offsetSeconds: Int64 = 0
        switch p[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard n - i >= 6, let oh = digits(i + 1, 2), p[i + 3] == UInt8(ascii: ":"),
                  let om = digits(i + 4, 2), oh <= 23, om <= 59
            else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (p[i] == UInt8(ascii: "-") ? -1 : 1)
            i += 6
        default:
            return nil
        }
        guard i == n else { return nil }
        let seconds = days(year: year, month: month, day: day) * 86400 + hour * 3600 + minute * 60 + second
            - offsetSeconds
        return EventTime(millisecondsSinceEpoch: seconds * 1000 + millis)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
