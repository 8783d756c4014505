import Foundation

/// The files that `scan` and `replay` read: each FILE argument as given, each DIR walked
/// recursively for CloudTrail-looking files (an S3 export: `AWSLogs/<account>/CloudTrail/<region>/
/// YYYY/MM/DD/*.json.gz`). Sorted by path, so a run is repeatable whatever the file system's order.
public struct CloudTrailFiles: Sendable, Hashable {
    public struct File: Sendable, Hashable {
        public var path: String
        public var size: Int
    }

    public var files: [File]
    /// Files inside directories that were not read (other extensions, digests, hidden files).
    public var skipped: Int

    public var totalBytes: Int { files.reduce(0) { $0 + $1.size } }

    /// Names a directory walk reads. A file named on the command line is read whatever its name.
    public static let extensions = [".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz"]

    /// Walks `paths`; throws `FileInputError` for a path that does not exist or cannot be read.
    public init(paths: [String]) throws(FileInputError) {
        var found: [File] = []
        var skipped = 0
        let fm = FileManager.default
        func walk(_ directory: String) throws(FileInputError) {
            let names: [String]
            do {
                names = try fm.contentsOfDirectory(atPath: directory)
            } catch {
                throw FileInputError(path: directory, problem: Self.reason(error))
            }
            for name in names.sorted() {
                let path = (directory as NSString).appendingPathComponent(name)
                var isDirectory: ObjCBool = false
                guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { skipped += 1; continue }
                if isDirectory.boolValue {
                    // Digest files prove integrity; they hold no events.
                    if name.hasPrefix(".") || name == "CloudTrail-Digest" { continue }
                    try walk(path)
                } else if !name.hasPrefix("."), Self.extensions.contains(where: { name.lowercased().hasSuffix($0) }) {
                    found.append(try Self.file(path))
                } else {
                    skipped += 1
                }
            }
        }
        for path in paths {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw FileInputError(path: path, problem: "no such file or directory")
            }
            if isDirectory.boolValue { try walk(path) } else { found.append(try Self.file(path)) }
        }
        // Sorted and deduplicated: naming a file twice (or a file and its directory) reads it once.
        var seen = Set<String>()
        files = found.sorted { $0.path < $1.path }.filter { seen.insert(($0.path as NSString).standardizingPath).inserted }
        self.skipped = skipped
    }

    private static func file(_ path: String) throws(FileInputError) -> File {
        guard access(path, R_OK) == 0 else {
            throw FileInputError(path: path, problem: String(cString: strerror(errno)))
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return File(path: path, size: size)
    }

    private static func reason(_ error: any Error) -> String {
        let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        if let code = underlying?.code, underlying?.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(code))) }
        return error.localizedDescription
    }
}

/// A file or directory that cannot be read: the run stops, naming it.
public struct FileInputError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var problem: String
    public var description: String { "cannot read \(path): \(problem)" }
}
