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
    }
    private let connections = Mutex<[ObjectIdentifier: Connection]>([:])

    public init() {}

    /// A handler for one new connection's pipeline (after the HTTP codec).
    func handler() -> ConnectionTracker { ConnectionTracker(registry: self) }

    func opened(_ channel: any Channel) {
        connections.withLock { $0[ObjectIdentifier(channel)] = Connection(channel: channel) }
    }

    func closed(_ channel: any Channel) {
        _ = connections.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    func update(_ channel: any Channel, _ change: (inout Connection) -> Void) {
        connections.withLock { connections in
            guard var connection = connections[ObjectIdentifier(channel)] else { return }
            change(&connection)
            connections[ObjectIdentifier(channel)] = connection
        }
    }

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
            registry.update(context.channel) { connection in
                connection.requestsRead += 1
                connection.lastRequest = "\(head.method) \(head.path?.split(separator: "?").first.map(String.init) ?? "")"
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { registry.update(context.channel) { $0.responsesEnded += 1 } }
        context.write(data, promise: promise)
    }
}
