public import Foundation

/// The `tokentrail` executable that end-to-end tests run: `$TOKENTRAIL_BINARY`, else the one
/// `swift build` put beside the test bundle (searched upwards from it).
public enum TokentrailBinary {
    public static var url: URL {
        if let p = ProcessInfo.processInfo.environment["TOKENTRAIL_BINARY"] { return URL(fileURLWithPath: p) }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("tokentrail")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: ".build/debug/tokentrail")
    }
}
