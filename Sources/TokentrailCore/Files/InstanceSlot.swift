#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The default `instance_id` when none is configured: the host name for the first process of a
/// group on a host, `<host>-<n>` for the n-th other one. The id is part of the exactly-once
/// `transactional.id`, which must be unique per live process (a second process with the same id
/// fences the first) and stable across restarts (a restart then fences its own zombie and its open
/// transaction is aborted at once, not after `transaction.timeout.ms`).
///
/// Slot n is held by an exclusive `flock` on `<temporary directory>/tokentrail-<group>-<n>.lock`
/// for the life of the process; the kernel releases it when the process dies, however it dies, so
/// a restarted process takes the lowest free slot: its own again, when the others still run.
public struct InstanceSlot: Sendable {
    public let instanceID: String
    /// The slot number; nil when no lock file could be used (then the id has the process id in it:
    /// unique, but not stable across restarts).
    public let slot: Int?
    public let lockFile: String?

    /// Never closed: the lock lives as long as the process.
    private let descriptor: Int32

    public static let maxSlots = 256

    /// `host` nil: this host's name; `directory` nil: the temporary directory (`TMPDIR`, else /tmp).
    public static func acquire(group: String, host: String? = nil, directory: String? = nil) -> InstanceSlot {
        let host = host ?? ProcessInfo.processInfo.hostName
        let directory = directory ?? NSTemporaryDirectory()
        let safeGroup = String(group.unicodeScalars.map { s -> Character in
            s.properties.isAlphabetic || ("0"..."9").contains(s) || s == "-" || s == "_" || s == "." ? Character(s) : "_"
        })
        let dir = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        for n in 0..<maxSlots {
            let path = "\(dir)/tokentrail-\(safeGroup)-\(n).lock"
            // O_NOFOLLOW: a symlink planted in a shared temporary directory is not followed.
            let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { break }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                return InstanceSlot(instanceID: n == 0 ? host : "\(host)-\(n)", slot: n, lockFile: path, descriptor: fd)
            }
            close(fd)
        }
        return InstanceSlot(instanceID: "\(host)-p\(getpid())", slot: nil, lockFile: nil, descriptor: -1)
    }
}
