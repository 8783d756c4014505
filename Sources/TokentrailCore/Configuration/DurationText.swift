import Detection

/// Durations as people write them in YAML and environment variables: `250ms`, `30s`, `5m`, `1h30m`, `7d`.
///
/// A bare number is refused: `30` could mean seconds or milliseconds, and guessing wrong by a factor
/// of a thousand is the kind of mistake that only shows up in production.
public enum DurationText {
    static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// What the error messages show as allowed.
    public static let syntax = "a number with a unit (ms, s, m, h, d), e.g. 250ms, 30s, 5m, 1h30m"

    /// Nil when the text is not a whole number of milliseconds in this syntax.
    public static func parse(_ text: String) -> Duration? {
        var rest = Substring(text.trimmingSpaces)
        guard !rest.isEmpty else { return nil }
        var total: Int64 = 0
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let number = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let letters = rest.prefix { $0.isASCII && $0.isLetter }
            // "ms" before "m": match the whole run of letters, not a prefix of it.
            guard let unit = units.first(where: { $0.suffix == letters }) else { return nil }
            rest = rest.dropFirst(letters.count)
            let (product, o1) = number.multipliedReportingOverflow(by: unit.milliseconds)
            let (sum, o2) = total.addingReportingOverflow(product)
            guard !o1, !o2 else { return nil }
            total = sum
        }
        return .milliseconds(total)
    }

    /// The shortest text `parse` reads back as the same duration (`90s` becomes `1m30s`).
    public static func format(_ duration: Duration) -> String {
        var ms = duration.milliseconds
        if ms == 0 { return "0s" }
        var text = ms < 0 ? "-" : ""
        ms = abs(ms)
        for unit in units.reversed() where ms >= unit.milliseconds {
            let n = ms / unit.milliseconds
            ms -= n * unit.milliseconds
            text += "\(n)\(unit.suffix)"
        }
        return text
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
