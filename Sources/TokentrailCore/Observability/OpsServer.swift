public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// What the ops endpoint answers for a path.
public struct OpsResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    public init(status: Int, contentType: String, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// `/metrics`, `/healthz`, `/readyz` for Prometheus and orchestrators.
///
/// Runs on its own one-thread NIO event loop, never on the pipeline's thread (whose `run` blocks)
/// and never on Swift's cooperative pool; `stop()` closes it on shutdown.
public final class OpsServer: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    public let port: Int

    /// Binds at once so that a taken port fails the start, not the first scrape.
    public init(host: String, port: Int, routes: OpsRoutes, logger: Logger) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(OpsHTTPHandler(routes: routes))
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.port = channel.localAddress?.port ?? port
        logger.info("metrics and health endpoint listening", metadata: ["address": "\(host):\(self.port)"])
    }

    public func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// The three paths, from the metrics and readiness state.
public struct OpsRoutes: Sendable {
    let metrics: PipelineMetrics
    let readiness: Readiness
    let liveness: Liveness?

    public init(metrics: PipelineMetrics, readiness: Readiness, liveness: Liveness? = nil) {
        self.metrics = metrics
        self.readiness = readiness
        self.liveness = liveness
    }

    public func respond(method: String, path: String) -> OpsResponse {
        let text = "text/plain; charset=utf-8"
        guard method == "GET" || method == "HEAD" else {
            return OpsResponse(status: 405, contentType: text, body: Array("method not allowed\n".utf8))
        }
        switch path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path {
        case "/metrics":
            let status = readiness.status()
            metrics.setReady(status.ready)
            return OpsResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics.render())
        case "/healthz":
            let status = liveness?.status() ?? Liveness.Status(alive: true, reason: "ok")
            return OpsResponse(status: status.alive ? 200 : 503, contentType: text, body: Array("\(status.reason)\n".utf8))
        case "/readyz":
            let status = readiness.status()
            metrics.setReady(status.ready)
            return OpsResponse(status: status.ready ? 200 : 503, contentType: text, body: Array("\(status.reason)\n".utf8))
        default:
            return OpsResponse(status: 404, contentType: text, body: Array("not found: try /metrics, /healthz, /readyz\n".utf8))
        }
    }
}

/// One response per request head; bodies of requests are ignored.
final class OpsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: OpsRoutes
    private var head: HTTPRequestHead?

    init(routes: OpsRoutes) { self.routes = routes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let h = head else { return }
            head = nil
            let r = routes.respond(method: h.method.rawValue, path: h.uri)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: r.contentType)
            headers.add(name: "Content-Length", value: String(r.body.count))
            if !h.isKeepAlive { headers.add(name: "Connection", value: "close") }
            let responseHead = HTTPResponseHead(version: h.version, status: HTTPResponseStatus(statusCode: r.status), headers: headers)
            context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
            if h.method != .HEAD {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: r.body)))), promise: nil)
            }
            if h.isKeepAlive {
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            } else {
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
            }
        }
    }
}
