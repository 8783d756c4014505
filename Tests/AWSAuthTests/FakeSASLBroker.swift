import NIOCore
import NIOPosix
import Synchronization

/// A loopback "broker" that speaks just enough of the Kafka protocol for a SASL/OAUTHBEARER
/// handshake (ApiVersions v3, SaslHandshake v1, SaslAuthenticate v0) and records what the client
/// authenticated with: librdkafka's initial client response, `n,,\u{1}auth=Bearer <token>\u{1}...\u{1}\u{1}`.
final class FakeSASLBroker: Sendable {
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: any Channel
    private let box: Box
    let port: Int

    init() throws {
        let box = Box()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(KafkaSASLHandler(record: { box.add($0) }))
                }
            }
        channel = try bootstrap.bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress!.port!
        self.box = box
    }

    /// The SASL client responses received, in order.
    var authentications: [String] { box.all }

    func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    final class Box: Sendable {
        private let items = Mutex<[String]>([])
        func add(_ s: String) { items.withLock { $0.append(s) } }
        var all: [String] { items.withLock { $0 } }
    }
}

final class KafkaSASLHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var pending = ByteBuffer()
    let record: @Sendable (String) -> Void

    init(record: @escaping @Sendable (String) -> Void) { self.record = record }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        pending.writeBuffer(&incoming)
        while let length = pending.getInteger(at: pending.readerIndex, as: Int32.self), pending.readableBytes >= 4 + Int(length) {
            pending.moveReaderIndex(forwardBy: 4)
            var frame = pending.readSlice(length: Int(length))!
            respond(to: &frame, context: context)
        }
    }

    private func respond(to frame: inout ByteBuffer, context: ChannelHandlerContext) {
        guard let apiKey = frame.readInteger(as: Int16.self), let version = frame.readInteger(as: Int16.self),
              let correlation = frame.readInteger(as: Int32.self), let clientIDLength = frame.readInteger(as: Int16.self) else { return }
        if clientIDLength > 0 { frame.moveReaderIndex(forwardBy: Int(clientIDLength)) }
        var body = context.channel.allocator.buffer(capacity: 64)
        body.writeInteger(correlation)  // Response header v0 (ApiVersions always; the SASL versions used here too).
        switch apiKey {
        case 18:  // ApiVersions, answered in the request's version (v3: flexible body).
            let apis: [(Int16, Int16, Int16)] = [(18, 0, 3), (17, 0, 1), (36, 0, 0), (3, 0, 4)]
            body.writeInteger(Int16(0))
            if version >= 3 {
                body.writeInteger(UInt8(apis.count + 1))
                for (k, lo, hi) in apis { body.writeInteger(k); body.writeInteger(lo); body.writeInteger(hi); body.writeInteger(UInt8(0)) }
                body.writeInteger(Int32(0))
                body.writeInteger(UInt8(0))
            } else {
                body.writeInteger(Int32(apis.count))
                for (k, lo, hi) in apis { body.writeInteger(k); body.writeInteger(lo); body.writeInteger(hi) }
                if version >= 1 { body.writeInteger(Int32(0)) }
            }
        case 17:  // SaslHandshake: OAUTHBEARER only.
            body.writeInteger(Int16(0))
            body.writeInteger(Int32(1))
            body.writeInteger(Int16(11))
            body.writeString("OAUTHBEARER")
        case 36:  // SaslAuthenticate v0: keep the client's bytes, accept.
            if let n = frame.readInteger(as: Int32.self), let bytes = frame.readString(length: Int(n)) { record(bytes) }
            body.writeInteger(Int16(0))
            body.writeInteger(Int16(-1))
            body.writeInteger(Int32(0))
        default:  // Anything after authentication: hang up, the test has what it needs.
            context.close(promise: nil)
            return
        }
        var frameOut = context.channel.allocator.buffer(capacity: body.readableBytes + 4)
        frameOut.writeInteger(Int32(body.readableBytes))
        frameOut.writeBuffer(&body)
        context.writeAndFlush(wrapOutboundOut(frameOut), promise: nil)
    }
}
