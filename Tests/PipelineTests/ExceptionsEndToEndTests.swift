import Foundation
import KafkaClient
import KafkaTestSupport
import Testing

/// `rule.exceptions_file` under `run`, against the broker: an exception drops its events, a file that
/// does not validate keeps the exceptions in force, and a corrected file is taken up without a restart.
@Suite(.ownThreads, .enabled(if: TestBroker.isEnabled), .timeLimit(.minutes(6)))
struct ExceptionsEndToEndTests {
    static let stolen = "arn:aws:sts::111122223333:assumed-role/app/i-0abc"

    /// The stolen token from the office (198.51.100.7) and from outside (203.0.113.9) in the hour
    /// starting at `hour`, then a control token (two addresses outside every exception) whose `open`
    /// alert shows that everything before it on the partition has been read.
    static func hour(_ hour: String, control: String) -> [(partition: Int32?, key: String?, value: [UInt8])] {
        [
            cloudTrailEvent(arn: stolen, key: "ASIASTOLEN1", ip: "198.51.100.7", time: "2026-03-02T\(hour):05:00Z"),
            cloudTrailEvent(arn: stolen, key: "ASIASTOLEN1", ip: "203.0.113.9", time: "2026-03-02T\(hour):06:00Z"),
            cloudTrailEvent(arn: control, key: "ASIACONTROL", ip: "192.0.2.10", time: "2026-03-02T\(hour):07:00Z"),
            cloudTrailEvent(arn: control, key: "ASIACONTROL", ip: "192.0.2.11", time: "2026-03-02T\(hour):08:00Z"),
        ].map { (0, nil, Array($0.utf8)) }
    }

    static let officeException = """
        - name: office-egress
          match:
            cidr: 198.51.100.0/24
          comment: NAT gateway of the office
          owner: netops@example.com
        """

    @Test func anExceptionDropsItsEventsABadFileKeepsItAndAFixedFileIsTakenUpWithoutARestart() throws {
        let bootstrap = try TestBroker.require()
        let input = TestBroker.unique("ct"), output = TestBroker.unique("alerts"), group = TestBroker.unique("tt")
        try TestBroker.createTopic(bootstrap, input, partitions: 1)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestBroker.unique("exceptions"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let exceptions = dir.appendingPathComponent("exceptions.yaml")
        let config = dir.appendingPathComponent("tokentrail.yaml")
        try Self.officeException.write(to: exceptions, atomically: true, encoding: .utf8)
        try "rule:\n  exceptions_file: \(exceptions.path)\nenrichment:\n  reload_interval: 1s\n"
            .write(to: config, atomically: true, encoding: .utf8)

        let tt = try TokentrailProcess(
            TokentrailProcess.runArguments(bootstrap: bootstrap, input: [input], output: output, group: group, extra: ["--config", config.path]),
            name: "exceptions")
        let reader = try AlertReader(bootstrap: bootstrap, topic: output)
        func awaitOpen(_ control: String) throws {
            try reader.read(until: .now + .seconds(90)) { $0.contains { $0.principal == control } }
            #expect(reader.alerts.contains { $0.principal == control }, "the control token of \(control) alerted:\n\(tt.log.suffix(2000))")
        }

        // 08:00: the office address is excepted, so the stolen token is seen from one address.
        try produceRaw(bootstrap, topic: input, Self.hour("08", control: "arn:aws:sts::111122223333:assumed-role/ctl/a"))
        try awaitOpen("arn:aws:sts::111122223333:assumed-role/ctl/a")

        // A file that does not validate: the exception stays in force.
        try "- name: office-egress\n  match:\n    cidr: 198.51.100.0/33\n  comment: typo\n  owner: netops@example.com\n"
            .write(to: exceptions, atomically: true, encoding: .utf8)
        #expect(tt.awaitLog("keeping the exceptions in force", timeout: .seconds(60)), "the bad file was refused:\n\(tt.log.suffix(2000))")
        try produceRaw(bootstrap, topic: input, Self.hour("09", control: "arn:aws:sts::111122223333:assumed-role/ctl/b"))
        try awaitOpen("arn:aws:sts::111122223333:assumed-role/ctl/b")

        // The team removes the exception: the next hour counts both addresses, with no restart.
        try "- name: contractor-range\n  match:\n    cidr: 192.0.2.128/25\n  comment: contractor VPN\n  owner: vendor-management\n"
            .write(to: exceptions, atomically: true, encoding: .utf8)
        #expect(tt.awaitLog("exceptions file reloaded", timeout: .seconds(60)), "the fixed file was taken up:\n\(tt.log.suffix(2000))")
        try produceRaw(bootstrap, topic: input, Self.hour("10", control: "arn:aws:sts::111122223333:assumed-role/ctl/c"))
        try reader.read(until: .now + .seconds(90)) { alerts in
            alerts.contains { $0.principal == Self.stolen && $0.status == "final" }
        }
        tt.signal(SIGTERM)
        #expect(tt.wait(timeout: .seconds(35)) == 0, "\(tt.log.suffix(2000))")

        let stolen = reader.alerts.filter { $0.principal == Self.stolen }
        #expect(Set(stolen.map(\.windowStart)) == ["2026-03-02T10:00:00Z"], "only the hour after the reload alerts:\n\(stolen.map(\.raw))")
        #expect(stolen.first { $0.status == "final" }?.addresses == ["198.51.100.7", "203.0.113.9"])
    }
}
