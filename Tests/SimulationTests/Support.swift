import CloudTrail
import Simulation

/// Small runs: fast in debug builds, still several windows, attacks and every kind of noise.
enum Sample {
    static func configuration(seed: UInt64 = 7, keyed: Bool = false) -> SimulationConfiguration {
        var c = SimulationConfiguration()
        c.seed = seed
        c.eventCount = 4000
        c.attackCount = 12
        c.keyed = keyed
        return c
    }

    static let generator = try! TrafficGenerator(configuration())
    /// Generated once and shared: rendering is the slow part in debug builds.
    static let events = Array(generator)
}

extension SimulatedEvent {
    var windowStart: Int64 {
        eventTime.millisecondsSinceEpoch / ExpectedAlerts.windowMilliseconds * ExpectedAlerts.windowMilliseconds
    }
}

extension ExpectedAlert {
    init(_ attack: InjectedAttack) {
        self.init(principalArn: attack.principalArn, windowStart: attack.windowStart, sourceAddresses: attack.sourceAddresses)
    }
}
