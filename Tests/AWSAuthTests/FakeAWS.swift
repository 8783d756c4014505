import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One request as the fake AWS endpoints saw it.
struct SeenRequest: Sendable {
    var method: String
    var uri: String
    var headers: [String: String]
    var body: String
    func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// A loopback HTTP server that plays STS, the container credentials endpoint and IMDSv2, as the
/// test's `respond` closure decides; every request is recorded.
final class FakeAWS: Sendable {
    typealias Respond = @Sendable (SeenRequest) -> (status: Int, body: String)
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: any Channel
    private let recorder: Recorder
    let port: Int

    init(_ respond: @escaping Respond) throws {
        let recorder = Recorder()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(FakeAWSHandler(respond: respond, record: { recorder.add($0) }))
                }
            }
        channel = try bootstrap.bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress!.port!
        self.recorder = recorder
    }

    var url: String { "http://127.0.0.1:\(port)" }
    var requests: [SeenRequest] { recorder.all }

    func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

final class Recorder: Sendable {
    private let seen = Mutex<[SeenRequest]>([])
    func add(_ r: SeenRequest) { seen.withLock { $0.append(r) } }
    var all: [SeenRequest] { seen.withLock { $0 } }
}

final class FakeAWSHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let respond: FakeAWS.Respond
    let record: @Sendable (SeenRequest) -> Void
    private var head: HTTPRequestHead?
    private var body = ""

    init(respond: @escaping FakeAWS.Respond, record: @escaping @Sendable (SeenRequest) -> Void) {
        self.respond = respond
        self.record = record
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h; body = ""
        case .body(var b): body += b.readString(length: b.readableBytes) ?? ""
        case .end:
            guard let h = head else { return }
            var headers: [String: String] = [:]
            for (k, v) in h.headers { headers[k.lowercased()] = v }
            let request = SeenRequest(method: h.method.rawValue, uri: h.uri, headers: headers, body: body)
            record(request)
            let r = respond(request)
            var out = HTTPHeaders()
            out.add(name: "Content-Length", value: String(r.body.utf8.count))
            out.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: HTTPResponseStatus(statusCode: r.status), headers: out))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: r.body)))), promise: nil)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
        }
    }
}

/// Collects every log line (message and metadata) for the secret checks.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
    var text: String { all.joined(separator: "\n") }

    func logger(_ label: String = "test") -> Logger {
        var l = Logger(label: label) { _ in CaptureHandler(capture: self) }
        l.logLevel = .trace
        return l
    }
}

struct CaptureHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        capture.add("\(event.level) \(event.message) \(metadata) \(event.metadata ?? [:])")
    }
}

/// A clock the test moves.
final class TestClock: Sendable {
    private let now = Mutex<Date>(Date())
    init(_ start: Date) { now.withLock { $0 = start } }
    func set(_ d: Date) { now.withLock { $0 = d } }
    func read() -> Date { now.withLock { $0 } }
}

func iso(_ d: Date) -> String { ISO8601DateFormatter().string(from: d) }
