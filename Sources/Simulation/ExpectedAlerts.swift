public import CloudTrail
import Foundation

/// One window the seed rule must alert on: what a detector's `final` alert has to say.
public struct ExpectedAlert: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var principalArn: String
    public var windowStart: EventTime
    /// Distinct addresses, canonical text, in the detector's order (IPv4 then IPv6, each numeric).
    public var sourceAddresses: [String]

    public init(principalArn: String, windowStart: EventTime, sourceAddresses: [String]) {
        self.principalArn = principalArn
        self.windowStart = windowStart
        self.sourceAddresses = sourceAddresses
    }

    public static func < (a: ExpectedAlert, b: ExpectedAlert) -> Bool {
        (a.windowStart, a.principalArn, a.sourceAddresses.joined(separator: ","))
            < (b.windowStart, b.principalArn, b.sourceAddresses.joined(separator: ","))
    }

    public var description: String { jsonLine }

    /// `{"principal_arn":"...","window_start":"2026-03-02T08:00:00Z","source_addresses":["..."]}`
    public var jsonLine: String {
        var o = JSONOut(capacity: 256)
        o.raw("{")
        o.field("principal_arn", principalArn, first: true)
        o.field("window_start", RFC3339.format(windowStart))
        o.key("source_addresses")
        o.raw("[")
        for (i, a) in sourceAddresses.enumerated() {
            if i > 0 { o.raw(",") }
            o.string(a)
        }
        o.raw("]}")
        return String(decoding: o.bytes, as: UTF8.self)
    }

    /// Parses one line written by `jsonLine`.
    public init(jsonLine: some StringProtocol) throws(SimulationError) {
        let object = try Self.object(Array(jsonLine.utf8))
        guard let arn = object["principal_arn"] as? String,
              let startText = object["window_start"] as? String, let start = RFC3339.parse(startText),
              let addresses = object["source_addresses"] as? [String]
        else { throw SimulationError("not an expected-alert line: \(jsonLine.prefix(200))") }
        self.init(principalArn: arn, windowStart: start, sourceAddresses: addresses)
    }

    /// The comparable part of a detector alert record (`principal.arn`, `window.start`,
    /// `source_addresses.values`) and its `status`, so a test can match `final` alerts to the oracle.
    public static func fromDetectorAlert(_ value: [UInt8]) throws(SimulationError) -> (status: String, alert: ExpectedAlert) {
        let object = try object(value)
        guard let status = object["status"] as? String,
              let principal = object["principal"] as? [String: Any], let arn = principal["arn"] as? String,
              let window = object["window"] as? [String: Any], let startText = window["start"] as? String,
              let start = RFC3339.parse(startText),
              let addresses = object["source_addresses"] as? [String: Any], let values = addresses["values"] as? [String]
        else { throw SimulationError("not a tokentrail alert: \(String(decoding: value.prefix(200), as: UTF8.self))") }
        return (status, ExpectedAlert(principalArn: arn, windowStart: start, sourceAddresses: values))
    }

    /// Encodes alerts as JSON lines (each line ends with a newline).
    public static func encodeLines(_ alerts: [ExpectedAlert]) -> String {
        alerts.map { $0.jsonLine + "\n" }.joined()
    }

    /// Decodes JSON lines; blank lines are skipped.
    public static func decodeLines(_ text: String) throws(SimulationError) -> [ExpectedAlert] {
        var out: [ExpectedAlert] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true)
        where !line.allSatisfy({ $0 == " " || $0 == "\r" || $0 == "\t" }) {
            out.append(try ExpectedAlert(jsonLine: line))
        }
        return out
    }

    private static func object(_ bytes: [UInt8]) throws(SimulationError) -> [String: Any] {
        do {
            guard let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
                throw SimulationError("not a JSON object")
            }
            return object
        } catch let error as SimulationError {
            throw error
        } catch {
            throw SimulationError("invalid JSON: \(error)")
        }
    }
}

/// The batch oracle: the seed rule recomputed plainly, independent of the streaming detector.
///
/// Feed it every good event in any order (`add`), then read `alerts`. It holds one address set per
/// (principal, window) that passed the filter, never event bodies, so it scales with principals.
/// It assumes what the generator guarantees: no event is late for the detector (disorder below
/// `max_out_of_orderness`), so every window the rule meets yields exactly one `final` alert.
public struct ExpectedAlerts: Sendable {
    struct Group: Hashable, Sendable {
        var arn: String
        var window: Int64
    }

    var groups: [Group: Set<SourceAddress>] = [:]
    /// Events that passed the rule's filter (a debugging aid and a test hook).
    public private(set) var countedEvents = 0

    public static let windowMilliseconds: Int64 = SimulationConfiguration.windowSeconds * 1000
    static let identityTypes: Set<String> = ["IAMUser", "AssumedRole"]
    static let automation: [[UInt8]] = ["terraform", "ansible", "pulumi"].map { Array($0.utf8) }

    public init() {}

    /// The seed rule's filter: the canonical address this event counts with, or nil if it does not count.
    public static func countedAddress(
        identityType: String?, arn: String?, accessKeyId: String?, sourceIPAddress: String?, userAgent: String?
    ) -> SourceAddress? {
        guard let type = identityType, identityTypes.contains(type),
              let arn, !arn.isEmpty,
              let key = accessKeyId, key.hasPrefix("ASIA"),
              let ip = sourceIPAddress
        else { return nil }
        let address = SourceAddress(parsing: ip)
        guard address.isAddress else { return nil }
        if let agent = userAgent, automation.contains(where: { containsIgnoringASCIICase(agent, $0) }) { return nil }
        return address
    }

    /// Plain byte search, ASCII case folded (`needle` is lowercase): no locale, no Foundation.
    static func containsIgnoringASCIICase(_ haystack: String, _ needle: [UInt8]) -> Bool {
        let h = Array(haystack.utf8)
        guard h.count >= needle.count else { return false }
        outer: for start in 0...(h.count - needle.count) {
            for (k, n) in needle.enumerated() {
                let c = h[start + k]
                if (c >= 0x41 && c <= 0x5A ? c | 0x20 : c) != n { continue outer }
            }
            return true
        }
        return false
    }

    public mutating func add(_ event: SimulatedEvent) {
        add(event.fields, eventTime: event.eventTime)
    }

    /// The same rule over an event as the CloudTrail decoder read it back from JSON.
    public mutating func add(decoded event: CloudTrailEvent) {
        let u = event.userIdentity
        guard let address = Self.countedAddress(
            identityType: u.type, arn: u.arn, accessKeyId: u.accessKeyId,
            sourceIPAddress: event.sourceIPAddress, userAgent: event.userAgent), let arn = u.arn
        else { return }
        record(arn: arn, address: address, eventTime: event.eventTime)
    }

    mutating func add(_ f: EventFields, eventTime: EventTime) {
        guard let address = Self.countedAddress(
            identityType: f.identityType, arn: f.arn, accessKeyId: f.accessKeyId,
            sourceIPAddress: f.sourceIPAddress, userAgent: f.userAgent), let arn = f.arn
        else { return }
        record(arn: arn, address: address, eventTime: eventTime)
    }

    private mutating func record(arn: String, address: SourceAddress, eventTime: EventTime) {
        countedEvents += 1
        let ms = eventTime.millisecondsSinceEpoch
        let window = (ms >= 0 ? ms / Self.windowMilliseconds : (ms - Self.windowMilliseconds + 1) / Self.windowMilliseconds)
        groups[Group(arn: arn, window: window), default: []].insert(address)
    }

    /// Every (principal, window) with two or more distinct addresses, sorted by window then principal.
    public var alerts: [ExpectedAlert] {
        groups.compactMap { group, addresses in
            addresses.count >= 2
                ? ExpectedAlert(principalArn: group.arn, windowStart: EventTime(millisecondsSinceEpoch: group.window * Self.windowMilliseconds),
                                sourceAddresses: Self.sorted(addresses).map(\.canonicalText))
                : nil
        }.sorted()
    }

    /// The oracle of a whole sequence, accumulated as it goes.
    public static func compute(_ events: some Sequence<SimulatedEvent>) -> [ExpectedAlert] {
        var oracle = ExpectedAlerts()
        for e in events { oracle.add(e) }
        return oracle.alerts
    }

    /// IPv4 before IPv6, each in numeric order: the order of the detector's `source_addresses.values`.
    static func sorted(_ addresses: some Sequence<SourceAddress>) -> [SourceAddress] {
        addresses.sorted { a, b in
            switch (a, b) {
            case (.ipv4(let x), .ipv4(let y)): return x < y
            case (.ipv4, _): return true
            case (.ipv6(let xh, let xl), .ipv6(let yh, let yl)): return (xh, xl) < (yh, yl)
            default: return false
            }
        }
    }

    static func sortedAddresses(_ texts: [String]) -> [String] {
        sorted(texts.map(SourceAddress.init(parsing:))).map(\.canonicalText)
    }
}
