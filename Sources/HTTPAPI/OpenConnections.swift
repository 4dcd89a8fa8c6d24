import Foundation
import Hummingbird
import NIOCore
import NIOHTTPTypes
import Synchronization

/// The client connections open now and how many requests each has read and answered, so that a
/// shutdown that runs out of time can say which connections it still waits for (the HTTP server
/// ends only when every connection has closed, and a connection whose request is never answered
/// keeps it waiting).
public final class OpenConnections: Sendable {
    struct Connection: Sendable {
        let channel: any Channel
        var requestsRead = 0
        var responsesEnded = 0
        var lastRequest = ""
        var draining = false
    }
    private struct State {
        var connections: [ObjectIdentifier: Connection] = [:]
        /// Requests read and responses finished since the start, over every connection.
        var read = 0, answered = 0
    }
    private let state = Mutex(State())

    public init() {}

    /// A handler for one new connection's pipeline (after the HTTP codec).
    func handler() -> ConnectionTracker { ConnectionTracker(registry: self) }

    func opened(_ channel: any Channel) {
        state.withLock { $0.connections[ObjectIdentifier(channel)] = Connection(channel: channel) }
    }

    func closed(_ channel: any Channel) {
        _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    func requestRead(on channel: any Channel, _ description: String) {
        state.withLock { state in
            state.read += 1
            state.connections[ObjectIdentifier(channel)]?.requestsRead += 1
            state.connections[ObjectIdentifier(channel)]?.lastRequest = description
        }
    }

    func responseEnded(on channel: any Channel) {
        state.withLock { state in
            state.answered += 1
            state.connections[ObjectIdentifier(channel)]?.responsesEnded += 1
        }
    }

    func startDraining(_ channel: any Channel) {
        state.withLock { $0.connections[ObjectIdentifier(channel)]?.draining = true }
    }

    func isDraining(_ channel: any Channel) -> Bool {
        state.withLock { $0.connections[ObjectIdentifier(channel)]?.draining ?? false }
    }

    /// Requests read since the start, and how many of them were answered: once the server has
    /// stopped, the difference is the requests it accepted and never answered.
    public var requestTotals: (read: Int, answered: Int) { state.withLock { ($0.read, $0.answered) } }

    /// The connections with a request not answered yet, for a log.
    public func describeBusy() -> String {
        let busy = state.withLock { $0.connections.values.filter { $0.requestsRead != $0.responsesEnded } }
        guard !busy.isEmpty else { return "none" }
        return busy.prefix(20).map { connection in
            "\(connection.channel.remoteAddress?.description ?? "?"): \(connection.lastRequest) unanswered"
        }.joined(separator: ", ")
    }
}

/// Counts a connection's requests and responses for `OpenConnections`.
final class ConnectionTracker: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let registry: OpenConnections
    init(registry: OpenConnections) { self.registry = registry }

    func handlerAdded(context: ChannelHandlerContext) { registry.opened(context.channel) }
    func handlerRemoved(context: ChannelHandlerContext) { registry.closed(context.channel) }

    func channelInactive(context: ChannelHandlerContext) {
        registry.closed(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            registry.requestRead(on: context.channel, "\(head.method) \(head.path?.split(separator: "?").first.map(String.init) ?? "")")
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where registry.isDraining(context.channel):
            // Shutting down: the client learns from the answer that this connection closes after it
            // (the server closes it once answered), instead of reusing it as it closes.
            head.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            registry.responseEnded(on: context.channel)
            context.write(data, promise: promise)
        default:
            context.write(data, promise: promise)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent { registry.startDraining(context.channel) }
        context.fireUserInboundEventTriggered(event)
    }
}
