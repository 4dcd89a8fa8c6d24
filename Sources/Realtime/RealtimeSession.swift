import AppConfig
import Auth
import Database
import Foundation
import Logging
import RateLimiting

/// One WebSocket connection's channels: reads the client's messages in order and answers each, as
/// a Phoenix socket does. Everything sent to the client goes through its `Outbox`.
struct RealtimeSession {
    static let topicPrefix = "realtime:"

    let hub: RealtimeHub
    let callers: CallerResolver
    let authorizer: ChannelAuthorizer
    /// Row changes; nil where the server runs without them (some tests).
    let changes: ChangeFeed?
    let settings: RealtimeSettings
    let outbox: Outbox
    /// The key the socket connected with: the token of a join that names none.
    let apikey: String
    let logger: Logger
    /// Joins and sent events per second, for this connection.
    let joins: RateLimiter
    let events: RateLimiter
    /// The channels joined on this connection, by topic.
    private(set) var channels: [String: RealtimeHub.MemberID] = [:]

    init(
        hub: RealtimeHub, callers: CallerResolver, authorizer: ChannelAuthorizer, changes: ChangeFeed?, settings: RealtimeSettings,
        outbox: Outbox, apikey: String, logger: Logger
    ) {
        self.hub = hub
        self.callers = callers
        self.authorizer = authorizer
        self.changes = changes
        self.settings = settings
        self.outbox = outbox
        self.apikey = apikey
        self.logger = logger
        joins = RateLimiter(RateLimit(limit: settings.maxJoinsPerSecond, period: .seconds(1)))
        events = RateLimiter(RateLimit(limit: settings.maxEventsPerSecond, period: .seconds(1)))
    }

    /// One text frame from the client.
    mutating func receive(_ text: String) async {
        let message: PhoenixMessage
        do {
            message = try PhoenixMessage.decode(text, serializer: outbox.serializer)
        } catch {
            // No topic to answer on: the socket's own topic says what was wrong; the connection stays.
            outbox.send(PhoenixMessage(topic: "phoenix", event: "phx_error", payload: .object(["reason": .string("malformed frame: \(error)")])))
            return
        }
        switch (message.topic, message.event) {
        case ("phoenix", "heartbeat"):
            reply(to: message, status: "ok", response: .object([:]))
        case (_, "phx_join"):
            await join(message)
        default:
            await handle(message)
        }
    }

    /// Leaves every channel: the connection has closed.
    mutating func close() {
        for id in channels.values { hub.leave(id) }
        channels = [:]
    }

    // MARK: - Joining

    private mutating func join(_ message: PhoenixMessage) async {
        let topic = message.topic
        guard topic.hasPrefix(Self.topicPrefix), topic.count > Self.topicPrefix.count else {
            // As Phoenix answers a topic no channel serves.
            reply(to: message, status: "error", response: .object(["reason": .string("unmatched topic")]))
            return
        }
        // A second join of the same topic replaces the first, as in Phoenix.
        if let existing = channels.removeValue(forKey: topic), let old = hub.leave(existing) {
            outbox.send(PhoenixMessage(joinRef: old.joinRef, ref: old.joinRef, topic: topic, event: "phx_close", payload: .object([:])))
        }
        guard channels.count < settings.maxChannelsPerConnection else {
            return refuseJoin(message, "ChannelRateLimitReached: too many channels on this connection (at most \(settings.maxChannelsPerConnection))")
        }
        guard joins.record("joins").allowed else {
            return refuseJoin(message, "ClientJoinRateLimitReached: too many joins per second (at most \(settings.maxJoinsPerSecond))")
        }
        let config: ChannelConfig
        do {
            config = try ChannelConfig(joinPayload: message.payload)
        } catch {
            return refuseJoin(message, "InvalidJoinPayload: \(error.reason)")
        }
        let token: String
        switch message.payload.objectValue?["access_token"] {
        case .string(let given)? where !given.isEmpty: token = given
        case nil, .null?, .string?: token = apikey
        default: return refuseJoin(message, "InvalidJoinPayload: access_token must be a string")
        }
        let caller: Caller
        switch await resolve(token) {
        case .success(let resolved): caller = resolved
        case .failure(let refusal): return refuseJoin(message, refusal.reason)
        }
        var bindings: [PostgresBinding] = []
        if !config.postgresChanges.isEmpty {
            guard let changes else {
                return refuseJoin(message, "PostgresChangesUnavailable: this server does not serve postgres_changes")
            }
            do {
                let named = config.postgresChanges.compactMap { binding -> String? in
                    guard case .string(let table)? = binding.objectValue?["table"], table != "*" else { return nil }
                    if case .string(let schema)? = binding.objectValue?["schema"] { return "\(schema).\(table)" }
                    return "public.\(table)"
                }
                let tables = try await changes.publishedTables(naming: named)
                for binding in config.postgresChanges {
                    bindings.append(try PostgresBinding(binding, id: changes.newBindingID()) { schema, table in
                        tables["\(schema).\(table)"]?.columns.map(\.name)
                    })
                }
                // The tables announce changes before the client is told it is subscribed.
                try await changes.lease(await changes.tables(watched: Set(bindings.map { .init(schema: $0.schema, table: $0.table) })))
            } catch let invalid as PostgresBinding.Invalid {
                return refuseJoin(message, "InvalidPostgresChanges: \(invalid.reason)")
            } catch {
                logger.warning("realtime postgres_changes setup failed", metadata: ["error": "\(String(reflecting: error))"])
                return refuseJoin(message, "UnableToConnectToDatabase: postgres_changes could not be set up; try again")
            }
        }
        var maySend = true
        if topic == RealtimeHub.homeTopic {
            // Each member hears only its own home: a user's token is required, and nobody sends here.
            guard caller.userID != nil, caller.role == .authenticated else {
                return refuseJoin(message, "Unauthorized: the home feed needs a signed-in user's token")
            }
            maySend = false
        } else if config.isPrivate {
            let name = String(topic.dropFirst(Self.topicPrefix.count))
            switch await authorizer.privateChannel(name, for: caller) {
            case .failure(.anonymous):
                return refuseJoin(message, "Unauthorized: a private channel needs a signed-in user's token")
            case .failure(.unavailable):
                return refuseJoin(message, "UnableToConnectToDatabase: the channel's authorization could not be checked; try again")
            case .success(let permissions):
                guard permissions.receive else {
                    return refuseJoin(message, "Unauthorized: You do not have permissions to read from this Channel topic: \(name)")
                }
                maySend = permissions.send
            }
        }
        let id = hub.join(RealtimeHub.Member(
            outbox: outbox, topic: topic, joinRef: message.joinRef ?? message.ref, config: config, caller: caller,
            expiresAt: Self.expiry(of: caller), maySend: maySend, presence: nil, bindings: bindings))
        channels[topic] = id
        reply(to: message, status: "ok", response: .object(["postgres_changes": .array(bindings.map(\.echo))]))
        if config.presenceEnabled {
            outbox.send(PhoenixMessage(
                topic: topic, event: "presence_state", payload: hub.presenceState(of: RealtimeHub.room(topic: topic, isPrivate: config.isPrivate))))
        }
        if let changes, !bindings.isEmpty {
            // Registered and leased before this: every change committed from now on is delivered.
            outbox.send(await changes.startListening()
                ? RealtimeHub.systemMessage(topic: topic, status: "ok", message: "Subscribed to PostgreSQL", extension: "postgres_changes")
                : RealtimeHub.systemMessage(
                    topic: topic, status: "error", message: "Not connected to PostgreSQL yet; changes are delivered once it is",
                    extension: "postgres_changes"))
        }
    }

    /// The error reply, then `phx_close`: the client stops this channel instead of retrying a join
    /// that cannot succeed as sent.
    private func refuseJoin(_ message: PhoenixMessage, _ reason: String) {
        reply(to: message, status: "error", response: .object(["reason": .string(reason)]))
        let joinRef = message.joinRef ?? message.ref
        outbox.send(PhoenixMessage(joinRef: joinRef, ref: joinRef, topic: message.topic, event: "phx_close", payload: .object([:])))
    }

    struct Refusal: Error {
        let reason: String
    }

    /// The caller a token stands for, with Supabase's reasons when it stands for none.
    private func resolve(_ token: String) async -> Result<Caller, Refusal> {
        do {
            return .success(try await callers.caller(authorization: "Bearer \(token)", apikey: nil))
        } catch {
            let reason = switch error {
            case .expired: "InvalidJWTExpiration: Token has expired"
            case .sessionEnded: "InvalidJWTToken: the session has ended (signed out, banned or deleted)"
            case .sessionUnverifiable: "UnableToConnectToDatabase: the session could not be checked; try again"
            case .roleNotAllowed(let role): "InvalidJWTToken: role '\(role)' is not allowed"
            case .malformedAuthorizationHeader, .invalidToken: "InvalidJWTToken: the token is not valid"
            }
            return .failure(Refusal(reason: reason))
        }
    }

    static func expiry(of caller: Caller) -> Date? {
        guard case .number(let seconds)? = (try? JSONValue(jsonText: caller.claimsJSON))?.objectValue?["exp"] else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }

    // MARK: - Joined channels

    private mutating func handle(_ message: PhoenixMessage) async {
        guard let id = channels[message.topic], let member = hub.member(id) else {
            channels[message.topic] = nil
            reply(to: message, status: "error", response: .object(["reason": .string("unmatched topic")]))
            return
        }
        let fields = message.payload.objectValue ?? [:]
        switch message.event {
        case "phx_leave":
            hub.leave(id)
            channels[message.topic] = nil
            reply(to: message, status: "ok", response: .object([:]))
            outbox.send(PhoenixMessage(joinRef: member.joinRef, ref: member.joinRef, topic: message.topic, event: "phx_close", payload: .object([:])))
        case "broadcast":
            guard allowedEvent(message) else { return }
            guard case .string? = fields["event"] else {
                return reply(to: message, status: "error", response: .object(["reason": .string("a broadcast needs an event name (payload.event)")]))
            }
            guard member.maySend else { return refuseSend(message) }
            hub.broadcast(from: id, payload: message.payload)
            if member.config.acknowledgesBroadcasts { reply(to: message, status: "ok", response: .object([:])) }
        case "presence":
            guard allowedEvent(message) else { return }
            guard member.maySend else { return refuseSend(message) }
            switch (fields["event"], fields["payload"]) {
            case (.string("track")?, .object(let state)?):
                hub.track(id, payload: state)
            case (.string("track")?, nil), (.string("track")?, .null?):
                hub.track(id, payload: [:])
            case (.string("untrack")?, _):
                hub.untrack(id)
            default:
                return reply(to: message, status: "error", response: .object([
                    "reason": .string("presence needs event 'track' with an object payload, or 'untrack'"),
                ]))
            }
            reply(to: message, status: "ok", response: .object([:]))
        case "access_token":
            await refreshToken(message, id: id, member: member)
        default:
            reply(to: message, status: "error", response: .object(["reason": .string("unknown event '\(message.event)'")]))
        }
    }

    /// A fresh token for a joined channel: the membership carries on as the token's caller, or
    /// ends when the token is refused (or no longer lets it read a private channel).
    private mutating func refreshToken(_ message: PhoenixMessage, id: RealtimeHub.MemberID, member: RealtimeHub.Member) async {
        guard case .string(let token)? = message.payload.objectValue?["access_token"], !token.isEmpty else {
            return reply(to: message, status: "error", response: .object(["reason": .string("access_token must be a non-empty string")]))
        }
        let caller: Caller
        switch await resolve(token) {
        case .success(let resolved): caller = resolved
        case .failure(let refusal):
            hub.end(id, reason: refusal.reason, extension: "system")
            channels[message.topic] = nil
            return
        }
        var maySend = member.maySend
        if member.config.isPrivate {
            guard case .success(let permissions) = await authorizer.privateChannel(String(message.topic.dropFirst(Self.topicPrefix.count)), for: caller),
                permissions.receive
            else {
                hub.end(id, reason: "Unauthorized: the new token may not read this channel", extension: "system")
                channels[message.topic] = nil
                return
            }
            maySend = permissions.send
        }
        hub.update(id) { member in
            member.caller = caller
            member.expiresAt = Self.expiry(of: caller)
            member.maySend = maySend
        }
        if message.ref != nil { reply(to: message, status: "ok", response: .object([:])) }
    }

    private func allowedEvent(_ message: PhoenixMessage) -> Bool {
        if events.record("events").allowed { return true }
        reply(to: message, status: "error", response: .object([
            "reason": .string("ClientRateLimitReached: too many messages per second (at most \(settings.maxEventsPerSecond))"),
        ]))
        return false
    }

    private func refuseSend(_ message: PhoenixMessage) {
        let reason = message.topic == RealtimeHub.homeTopic
            ? "Unauthorized: the home feed is the server's: it carries new posts, nothing sent by clients"
            : "Unauthorized: You do not have permissions to write to this Channel topic: \(message.topic.dropFirst(Self.topicPrefix.count))"
        reply(to: message, status: "error", response: .object(["reason": .string(reason)]))
    }

    private func reply(to message: PhoenixMessage, status: String, response: JSONValue) {
        outbox.send(PhoenixMessage(
            joinRef: message.joinRef, ref: message.ref, topic: message.topic, event: "phx_reply",
            payload: .object(["status": .string(status), "response": response])))
    }
}
