import Foundation
import Testing
import TokentrailCore

/// The default instance id: one slot per live process of a group on a host.
struct InstanceSlotTests {
    @Test func processesOfOneGroupOnOneHostTakeDistinctSlotsAndOtherGroupsStartAtTheHostName() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slots-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // flock conflicts between open file descriptions, also within one process: each acquire here
        // stands for another process.
        let a = InstanceSlot.acquire(group: "soc", host: "node7", directory: dir)
        let b = InstanceSlot.acquire(group: "soc", host: "node7", directory: dir)
        let c = InstanceSlot.acquire(group: "soc/x y", host: "node7", directory: dir)
        #expect(a.instanceID == "node7" && a.slot == 0)
        #expect(b.instanceID == "node7-1" && b.slot == 1)
        #expect(c.instanceID == "node7" && c.lockFile?.hasSuffix("/tokentrail-soc_x_y-0.lock") == true)
    }

    @Test func aDirectoryThatCannotHoldLocksGivesAUniqueIdThatSaysSo() {
        let s = InstanceSlot.acquire(group: "soc", host: "node7", directory: "/nonexistent/\(UUID().uuidString)")
        #expect(s.slot == nil && s.lockFile == nil && s.instanceID == "node7-p\(getpid())")
    }
}
