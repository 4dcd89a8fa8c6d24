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
    private let connections = Mutex<[ObjectIdentifier: Connection]>([:])
    /// Requests read and responses finished since the start, over every connection.
    private let totals = Mutex((read: 0, answered: 0))

    public init() {}

    /// A handler for one new connection's pipeline (after the HTTP codec).
    func handler() -> ConnectionTracker { ConnectionTracker(registry: self) }

    func opened(_ channel: any Channel) {
        connections.withLock { $0[ObjectIdentifier(channel)] = Connection(channel: channel) }
    }

    func closed(_ channel: any Channel) {
        _ = connections.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    @discardableResult
    func update(_ channel: any Channel, _ change: (inout Connection) -> Void) -> Connection? {
        connections.withLock { connections in
            guard var connection = connections[ObjectIdentifier(channel)] else { return nil }
            change(&connection)
            connections[ObjectIdentifier(channel)] = connection
            return connection
        }
    }

    func countRead() { totals.withLock { $0.read += 1 } }
    func countAnswered() { totals.withLock { $0.answered += 1 } }

    /// Requests read since the start, and how many of them were answered: once the server has
    /// stopped, the difference is the requests it accepted and never answered.
    public var requestTotals: (read: Int, answered: Int) { totals.withLock { $0 } }

    public var count: Int { connections.withLock { $0.count } }

    /// The connections with a request not answered yet, for a log.
    public func describeBusy() -> String {
        let busy = connections.withLock { $0.values.filter { $0.requestsRead != $0.responsesEnded } }
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
            registry.countRead()
            registry.update(context.channel) { connection in
                connection.requestsRead += 1
                connection.lastRequest = "\(head.method) \(head.path?.split(separator: "?").first.map(String.init) ?? "")"
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            // Shutting down: the client learns from the answer that this connection closes after it
            // (the server closes it once answered), instead of reusing it as it closes.
            if registry.update(context.channel, { _ in })?.draining == true {
                head.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
        case .end:
            registry.countAnswered()
            registry.update(context.channel) { $0.responsesEnded += 1 }
        case .body:
            break
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent { registry.update(context.channel) { $0.draining = true } }
        context.fireUserInboundEventTriggered(event)
    }
}
