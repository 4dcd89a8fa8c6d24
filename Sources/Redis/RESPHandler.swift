import NIOCore

/// One command sent on a connection, with where its reply goes.
struct RedisRequest {
    let command: [String]
    let promise: EventLoopPromise<RESPValue>
}

/// The channel handler: writes commands, and matches replies to them in order — so any number of
/// commands can be in flight on one connection (pipelining). Pub/sub messages (`message`,
/// `pmessage`, RESP3 pushes) go to `onMessage` instead. Runs on its channel's event loop only.
final class RESPHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private var received: ByteBuffer?
    private var waiting = CircularBuffer<EventLoopPromise<RESPValue>>()
    private var closedWith: RedisError?
    /// Set on a subscriber connection: receives (channel, payload) of each message.
    var onMessage: ((String, ByteBuffer) -> Void)?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let closedWith {
            request.promise.fail(closedWith)
            promise?.fail(closedWith)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        RESPParser.write(request.command, into: &buffer)
        waiting.append(request.promise)
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if received == nil || received!.readableBytes == 0 {
            received = bytes
        } else {
            received!.writeBuffer(&bytes)
        }
        do {
            while var buffer = received, let value = try RESPParser.parse(&buffer) {
                received = buffer
                deliver(value)
            }
            received?.discardReadBytes()
        } catch {
            fail(with: error, context: context)
        }
    }

    private func deliver(_ value: RESPValue) {
        if let onMessage, let message = Self.message(value) {
            onMessage(message.channel, message.payload)
            return
        }
        if case .push = value { return }  // a push nobody subscribed to
        guard let promise = waiting.popFirst() else { return }
        if case .error(let text) = value {
            promise.fail(RedisError.server(text))
        } else {
            promise.succeed(value)
        }
    }

    /// `message <channel> <payload>` or `pmessage <pattern> <channel> <payload>`.
    static func message(_ value: RESPValue) -> (channel: String, payload: ByteBuffer)? {
        guard let parts = value.array, let kind = parts.first?.string else { return nil }
        if kind == "message", parts.count == 3, let channel = parts[1].string, case .bulkString(let payload?) = parts[2] {
            return (channel, payload)
        }
        if kind == "pmessage", parts.count == 4, let channel = parts[2].string, case .bulkString(let payload?) = parts[3] {
            return (channel, payload)
        }
        return nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(with: closedWith ?? .connectionClosed, context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(with: .connectionClosed, context: context)
    }

    /// Fails every command in flight and closes: after a timeout or a protocol error the stream's
    /// position is unknown, so the connection cannot be trusted for the next reply.
    func fail(with error: RedisError, context: ChannelHandlerContext) {
        if closedWith == nil { closedWith = error }
        while let promise = waiting.popFirst() { promise.fail(closedWith ?? error) }
        context.close(promise: nil)
    }
}
