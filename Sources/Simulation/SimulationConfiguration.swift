public import CloudTrail

/// What traffic to generate. Every field has a default that matches the end-to-end tests' needs;
/// the same configuration (and seed) always yields byte-identical events.
public struct SimulationConfiguration: Sendable, Hashable {
    /// Everything random derives from this.
    public var seed: UInt64 = 1
    /// Total good events, attacks and near misses included (bad records come on top).
    public var eventCount: Int = 100_000
    /// Injected attacks: distinct (principal, 30-minute window) pairs with 2–5 addresses each.
    public var attackCount: Int = 50
    /// Principals seen from two addresses one second either side of a window boundary; nil: a
    /// default that grows with `eventCount` (at least 10 when the span has a boundary).
    public var nearMissCount: Int?
    /// Number of input partitions ("streams") events are assigned to.
    public var partitions: Int = 4
    /// Assign events to partitions by principal ARN (keyed input) rather than by event id.
    public var keyed: Bool = false
    /// The earliest event time.
    public var start: EventTime = EventTime(secondsSinceEpoch: 1_772_409_600)  // 2026-03-02T00:00:00Z
    /// Event times fall in `[start, start + duration)` (attacks and near misses inside it).
    public var duration: Duration = .seconds(6 * 3600)
    /// How far an event may trail the newest event before it in its partition. Keep it below the
    /// detector's `max_out_of_orderness` (5 min) or some events are late and the oracle no longer applies.
    public var maxDisorder: Duration = .seconds(60)
    /// Ordinary session principals (one key, one address each); nil: `eventCount / 250`, at least 8
    /// and at least `attackCount`.
    public var principalCount: Int?
    /// Shares of the background traffic by kind.
    public var mix: TrafficMix = TrafficMix()

    public init() {}

    /// The window size of the seed rule, which attacks and near misses are placed against.
    public static let windowSeconds: Int64 = 30 * 60

    var startSeconds: Int64 {
        let ms = start.millisecondsSinceEpoch
        return ms >= 0 ? (ms + 999) / 1000 : ms / 1000
    }

    var durationSeconds: Int64 { duration.components.seconds }
    var maxDisorderSeconds: Int64 { maxDisorder.components.seconds }
    var endSeconds: Int64 { startSeconds + durationSeconds }

    /// Enough principals for the attacks even in a small run (each attack needs its own window pair).
    var effectivePrincipalCount: Int { principalCount ?? max(8, eventCount / 250, attackCount) }
    var effectiveNearMissCount: Int { nearMissCount ?? max(10, eventCount / 5000) }

    /// Rejects configurations that cannot be generated, with a message naming the field.
    public func validate() throws(SimulationError) {
        func fail(_ text: String) -> SimulationError { SimulationError(text) }
        guard eventCount >= 0 else { throw fail("eventCount must be >= 0, got \(eventCount)") }
        guard attackCount >= 0 else { throw fail("attackCount must be >= 0, got \(attackCount)") }
        guard partitions >= 1 else { throw fail("partitions must be >= 1, got \(partitions)") }
        guard durationSeconds >= 1 else { throw fail("duration must be at least 1 second") }
        guard maxDisorderSeconds >= 0 else { throw fail("maxDisorder must be >= 0") }
        guard effectivePrincipalCount >= 1 else { throw fail("principalCount must be >= 1") }
        guard effectiveNearMissCount >= 0 else { throw fail("nearMissCount must be >= 0") }
        guard mix.isValid else { throw fail("mix weights must be >= 0 with a positive sum") }
    }
}

/// Relative weights of background traffic kinds (attacks and near misses are placed separately).
public struct TrafficMix: Sendable, Hashable {
    /// Assumed-role (and IAM user session) principals, one key from one address each.
    public var normal: Double = 0.72
    /// IAM users with long-term `AKIA` keys, from many addresses.
    public var longTermKeys: Double = 0.08
    /// AWS services acting for a role (`ec2.amazonaws.com`, `AWS Internal` as the address).
    public var serviceCallers: Double = 0.07
    /// Terraform, Ansible and Pulumi runners, from many addresses.
    public var automation: Double = 0.06
    /// Root, AWSService, FederatedUser and SAMLUser identities, from many addresses.
    public var otherIdentityTypes: Double = 0.06
    /// Assumed-role events without `userIdentity.arn`, from many addresses.
    public var missingArn: Double = 0.01

    public init() {}

    var weights: [Double] { [normal, longTermKeys, serviceCallers, automation, otherIdentityTypes, missingArn] }
    var isValid: Bool { weights.allSatisfy { $0 >= 0 && $0.isFinite } && weights.reduce(0, +) > 0 }
}

/// A configuration or generation failure, with a message fit for a command line.
public struct SimulationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
