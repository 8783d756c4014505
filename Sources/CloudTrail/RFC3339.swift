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
