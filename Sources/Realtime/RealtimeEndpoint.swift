import AppConfig
import Auth
import Foundation
import HummingbirdWebSocket
import Logging
import Synchronization

/// `/realtime/v1/websocket`: Supabase Realtime's client-facing protocol (Phoenix channels) with
/// broadcast, presence and private channels authorized by the database.
public final class RealtimeEndpoint: Sendable {
    public static let path = "/realtime/v1/websocket"

    public let hub: RealtimeHub
    let callers: CallerResolver
    let authorizer: ChannelAuthorizer
    public let changes: ChangeFeed?
    public let settings: RealtimeSettings
    let logger: Logger
    private let open = Atomic<Int>(0)

    public init(
        hub: RealtimeHub, callers: CallerResolver, authorizer: ChannelAuthorizer, changes: ChangeFeed?, settings: RealtimeSettings, logger: Logger
    ) {
        self.hub = hub
        self.callers = callers
        self.authorizer = authorizer
        self.changes = changes
        self.settings = settings
        self.logger = logger
    }

    /// WebSocket connections open now.
    public var openConnections: Int { open.load(ordering: .relaxed) }

    /// An announcement of the session gate's (`session:<id>` ended; `user:<id>` banned, unbanned or
    /// deleted): the memberships it ends are ended at once, as every other access is (after the
    /// gate has applied it, so that a recheck asks the database).
    public func apply(sessionAnnouncement payload: String) {
        let parts = payload.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let id = UUID(uuidString: String(parts[1])) else { return }
        let reason = "InvalidJWTToken: the session has ended (signed out, banned or deleted)"
        switch parts[0] {
        case "session":
            for member in hub.members(where: { $0.sessionID == id }) { hub.end(member.id, reason: reason, extension: "system") }
        case "user":
            let affected = hub.members(where: { $0.userID == id })
            guard !affected.isEmpty, let sessions = callers.sessions else { return }
            let hub = hub
            Task {
                for member in affected where await sessions.check(member.caller) == .ended {
                    hub.end(member.id, reason: reason, extension: "system")
                }
            }
        default: break
        }
    }

    /// What the upgrade request asked for, or why it cannot be served.
    public struct Handshake: Sendable {
        public let serializer: PhoenixSerializer
        public let apikey: String
    }

    /// Checks an upgrade request's path and query (`apikey`, `vsn`): nil when the path is not ours;
    /// `.failure` with the reason when the request is ours but cannot be served (the handshake is
    /// then refused with 400).
    public func handshake(path: String, query: String?) async -> Result<Handshake, HandshakeRefused>? {
        guard path == Self.path || path == Self.path + "/" else { return nil }
        var parameters: [String: String] = [:]
        for pair in (query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            if parts.count == 2 { parameters[parts[0]] = parameters[parts[0]] ?? parts[1] }
        }
        let vsn = parameters["vsn"] ?? PhoenixSerializer.v1.rawValue
        guard let serializer = PhoenixSerializer(rawValue: vsn) else {
            return .failure(HandshakeRefused(reason: "vsn '\(vsn)' is not supported (1.0.0 or 2.0.0)"))
        }
        guard let apikey = parameters["apikey"], !apikey.isEmpty else {
            return .failure(HandshakeRefused(reason: "apikey is required"))
        }
        do {
            _ = try await callers.caller(authorization: nil, apikey: apikey)
        } catch {
            return .failure(HandshakeRefused(reason: "apikey: \(error)"))
        }
        return .success(Handshake(serializer: serializer, apikey: apikey))
    }

    public struct HandshakeRefused: Error, Sendable {
        public let reason: String
    }

    /// Serves one upgraded connection until either side closes it.
    public func serve(_ handshake: Handshake, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let opened = open.add(1, ordering: .relaxed).newValue
        defer { open.subtract(1, ordering: .relaxed) }
        guard opened <= settings.maxConnections else {
            // Past the server's limit: a reason the client can read, then the close.
            try await outbound.write(.text(PhoenixMessage(topic: "phoenix", event: "phx_error", payload: .object([
                "reason": .string("ConnectionRateLimitReached: too many connections on this server (at most \(settings.maxConnections))"),
            ])).encoded(handshake.serializer)))
            try await outbound.close(.unknown(1013), reason: "ConnectionRateLimitReached")
            return
        }
        let (outbox, queued) = Outbox.make(
            serializer: handshake.serializer, capacity: settings.outboundQueue, statistics: hub.statistics)
        let session = RealtimeSession(
            hub: hub, callers: callers, authorizer: authorizer, changes: changes, settings: settings, outbox: outbox, apikey: handshake.apikey, logger: logger)
        let maxPayloadBytes = settings.maxPayloadBytes, queueLimit = settings.outboundQueue
        enum Finished { case reader, writer, timer }
        try await withThrowingTaskGroup(of: Finished.self) { group in
            // The reader: the client's messages, one at a time, in order.
            group.addTask {
                var session = session
                defer {
                    session.close()
                    outbox.finish()
                }
                for try await message in inbound.messages(maxSize: maxPayloadBytes) {
                    guard case .text(let text) = message else {
                        outbox.send(PhoenixMessage(topic: "phoenix", event: "phx_error", payload: .object([
                            "reason": .string("binary frames are not served; send JSON text frames"),
                        ])))
                        continue
                    }
                    await session.receive(text)
                }
                return .reader
            }
            // The writer: drains the queue; when the client fell behind, says so and closes.
            group.addTask {
                for await text in queued {
                    try await outbound.write(.text(text))
                }
                if outbox.hasFallenBehind {
                    try await outbound.write(.text(PhoenixMessage(topic: "phoenix", event: "phx_error", payload: .object([
                        "reason": .string("SlowConsumer: more than \(queueLimit) messages waited for this connection; reconnect and refetch"),
                    ])).encoded(handshake.serializer)))
                    try await outbound.close(.policyViolation, reason: "SlowConsumer")
                }
                return .writer
            }
            defer { group.cancelAll() }
            // The client closed (the reader ends; what is still queued has no one to read it), or
            // the writer closed a connection that fell behind: its reader gets a moment to see the
            // client's close, no more.
            if try await group.next() == .writer {
                group.addTask {
                    try await Task.sleep(for: .seconds(5))
                    return .timer
                }
                _ = try await group.next()
            }
        }
    }
}
