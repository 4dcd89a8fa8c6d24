import Auth
import Database
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Every channel joined on this server: who is in which topic, with what settings and identity,
/// and who is present. Broadcasts and presence diffs fan out from here; a message is encoded once
/// per wire format, not once per subscriber.
///
/// The hub is the truth about membership: a connection asks it whether its join still stands, so
/// that what ends a membership from outside (an expired token, a session that ended) ends it at once.
public final class RealtimeHub: Sendable {
    public struct MemberID: Hashable, Sendable {
        let value: UInt64
    }

    struct Member: Sendable {
        let outbox: Outbox
        let topic: String
        let joinRef: String?
        let config: ChannelConfig
        var caller: Caller
        var expiresAt: Date?
        /// For a private channel: whether the database lets this caller send on it.
        var maySend: Bool
        /// This member's presence: its `phx_ref` and what it tracked.
        var presence: (ref: String, payload: [String: JSONValue])?
        /// The `postgres_changes` bindings of its join.
        var bindings: [PostgresBinding] = []
        /// Where its messages go (see ``RealtimeHub/room(topic:isPrivate:)``).
        var room: String { RealtimeHub.room(topic: topic, isPrivate: config.isPrivate) }
    }

    /// A topic's private channel and its public one are apart, as in Supabase: a public join of a
    /// private channel's topic hears nothing of its members and reaches none of them (else anyone
    /// could read `user:<id>` by joining it without `private`). Topics all start with `realtime:`,
    /// so the private rooms' names cannot be a public topic.
    static func room(topic: String, isPrivate: Bool) -> String {
        isPrivate && topic != homeTopic ? "private:" + topic : topic
    }

    /// A member with bindings that match a change.
    struct ChangeSubscriber: Sendable {
        let outbox: Outbox
        let topic: String
        let caller: Caller
        let bindings: [PostgresBinding]
    }

    /// The live home feed: each member hears the new posts of its own caller's home (and nothing
    /// else is sent on it), fed by the home fan-out.
    public static let homeTopic = "realtime:home"

    private struct State {
        var topics: [String: [MemberID: Member]] = [:]
        /// Members of the home topic, by their user.
        var homeMembers: [UUID: Set<MemberID>] = [:]
        var topicOf: [MemberID: String] = [:]
        var nextID: UInt64 = 0
        var nextPresenceRef: UInt64 = 0
    }
    private let state = Mutex(State())
    let logger: Logger
    public let statistics = RealtimeStatistics()

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Channels joined now, over every connection (for /metrics and tests).
    public var memberCount: Int { state.withLock { $0.topicOf.count } }

    func join(_ member: Member) -> MemberID {
        state.withLock { state in
            state.nextID += 1
            let id = MemberID(value: state.nextID)
            state.topics[member.room, default: [:]][id] = member
            state.topicOf[id] = member.room
            if member.topic == Self.homeTopic, let user = member.caller.userID { state.homeMembers[user, default: []].insert(id) }
            return id
        }
    }

    func member(_ id: MemberID) -> Member? {
        state.withLock { state in state.topicOf[id].flatMap { state.topics[$0]?[id] } }
    }

    func update(_ id: MemberID, _ change: (inout Member) -> Void) {
        state.withLock { state in
            guard let topic = state.topicOf[id] else { return }
            change(&state.topics[topic]![id]!)
        }
    }

    /// Removes a membership; the others in its topic see its presence leave.
    @discardableResult
    func leave(_ id: MemberID) -> Member? {
        let (removed, recipients) = state.withLock { state -> (Member?, [Member]) in
            guard let topic = state.topicOf.removeValue(forKey: id) else { return (nil, []) }
            let removed = state.topics[topic]?.removeValue(forKey: id)
            if state.topics[topic]?.isEmpty == true { state.topics[topic] = nil }
            if topic == Self.homeTopic, let user = removed?.caller.userID {
                state.homeMembers[user]?.remove(id)
                if state.homeMembers[user]?.isEmpty == true { state.homeMembers[user] = nil }
            }
            return (removed, removed?.presence == nil ? [] : Array(state.topics[topic]?.values ?? [:].values))
        }
        if let removed, let presence = removed.presence {
            let diff = Self.presenceDiff(joins: [:], leaves: [removed.config.presenceKey: [Self.meta(presence)]])
            send(PhoenixMessage(topic: removed.topic, event: "presence_diff", payload: diff), to: recipients)
        }
        return removed
    }

    /// A client's broadcast to the others in its topic (and to itself when its join asked for it).
    func broadcast(from id: MemberID, payload: JSONValue) {
        let recipients = state.withLock { state -> [Member] in
            guard let topic = state.topicOf[id], let members = state.topics[topic] else { return [] }
            return members.compactMap { key, member in key != id || member.config.receivesOwnBroadcasts ? member : nil }
        }
        guard let topic = recipients.first?.topic else { return }
        send(PhoenixMessage(topic: topic, event: "broadcast", payload: payload), to: recipients)
    }

    /// A broadcast from outside the topic (over HTTP) to every member of its public or private
    /// channel; returns how many it reached.
    @discardableResult
    func broadcast(toTopic topic: String, isPrivate: Bool, payload: JSONValue) -> Int {
        let recipients = state.withLock { state in Array(state.topics[Self.room(topic: topic, isPrivate: isPrivate)]?.values ?? [:].values) }
        send(PhoenixMessage(topic: topic, event: "broadcast", payload: payload), to: recipients)
        return recipients.count
    }

    /// Tracks (or replaces) a member's presence; every member of the topic gets the diff.
    func track(_ id: MemberID, payload: [String: JSONValue]) {
        let outcome = state.withLock { state -> (Member, (ref: String, payload: [String: JSONValue])?, [Member])? in
            guard let topic = state.topicOf[id], var member = state.topics[topic]?[id] else { return nil }
            state.nextPresenceRef += 1
            let previous = member.presence
            member.presence = (ref: "p\(state.nextPresenceRef)", payload: payload)
            state.topics[topic]![id] = member
            return (member, previous, Array(state.topics[topic]!.values))
        }
        guard let (member, previous, recipients) = outcome, let presence = member.presence else { return }
        var joined = Self.meta(presence)
        if let previous { joined["phx_ref_prev"] = .string(previous.ref) }
        let key = member.config.presenceKey
        let diff = Self.presenceDiff(joins: [key: [joined]], leaves: previous.map { [key: [Self.meta($0)]] } ?? [:])
        send(PhoenixMessage(topic: member.topic, event: "presence_diff", payload: diff), to: recipients)
    }

    func untrack(_ id: MemberID) {
        let outcome = state.withLock { state -> (Member, [Member])? in
            guard let topic = state.topicOf[id], let member = state.topics[topic]?[id], member.presence != nil else { return nil }
            state.topics[topic]![id]!.presence = nil
            return (member, Array(state.topics[topic]!.values))
        }
        guard let (member, recipients) = outcome, let presence = member.presence else { return }
        let diff = Self.presenceDiff(joins: [:], leaves: [member.config.presenceKey: [Self.meta(presence)]])
        send(PhoenixMessage(topic: member.topic, event: "presence_diff", payload: diff), to: recipients)
    }

    /// Who is present in a topic: `{key: {metas: [...]}}`, as `presence_state` carries it.
    func presenceState(of room: String) -> JSONValue {
        let members = state.withLock { Array($0.topics[room]?.values ?? [:].values) }
        var byKey: [String: [JSONValue]] = [:]
        for member in members {
            if let presence = member.presence { byKey[member.config.presenceKey, default: []].append(.object(Self.meta(presence))) }
        }
        return .object(byKey.mapValues { .object(["metas": .array($0)]) })
    }

    /// Ends every membership whose token has expired: the client hears why, then the channel closes.
    func endExpired(now: Date = Date()) {
        let expired = state.withLock { state in
            state.topics.values.flatMap { members in
                members.filter { _, member in member.expiresAt.map { $0 <= now } ?? false }.map(\.key)
            }
        }
        for id in expired {
            end(id, reason: "Token has expired", extension: "system")
        }
    }

    /// The users with a live home open now.
    public func liveHomeViewers() -> Set<UUID> {
        state.withLock { Set($0.homeMembers.keys) }
    }

    /// A new post in `viewer`'s home (a feed row, JSON text, as the database said the viewer sees
    /// it), as a broadcast `new_post` to the viewer's home members: the clients' `on_broadcast` hears it.
    public func deliverHomePost(_ item: String, to viewer: UUID) {
        let outboxes = state.withLock { state in
            (state.homeMembers[viewer] ?? []).compactMap { state.topics[Self.homeTopic]?[$0]?.outbox }
        }
        guard !outboxes.isEmpty else { return }
        // The row is the database's JSON text: spliced in as it is, not parsed and written again
        // (a post to 1,000 live homes is 1,000 different rows; re-encoding each was most of the
        // server's share of the delivery).
        let payload = #"{"type":"broadcast","event":"new_post","payload":"# + item + "}"
        for outbox in outboxes { outbox.sendFrame(topic: Self.homeTopic, event: "broadcast", payloadText: payload) }
    }

    /// The memberships whose caller matches, with that caller.
    func members(where matches: (Caller) -> Bool) -> [(id: MemberID, caller: Caller)] {
        state.withLock { state in
            state.topics.values.flatMap { members in
                members.compactMap { id, member in matches(member.caller) ? (id, member.caller) : nil }
            }
        }
    }

    /// The members whose bindings match a change of `schema.table` of kind `type`.
    func changeSubscribers(schema: String, table: String, type: String) -> [ChangeSubscriber] {
        state.withLock { state in
            state.topics.values.flatMap { members in
                members.values.compactMap { member -> ChangeSubscriber? in
                    guard !member.bindings.isEmpty else { return nil }
                    let matching = member.bindings.filter { $0.matches(schema: schema, table: table, type: type) }
                    return matching.isEmpty ? nil : ChangeSubscriber(outbox: member.outbox, topic: member.topic, caller: member.caller, bindings: matching)
                }
            }
        }
    }

    /// The tables subscribers watch now, as `(schema, table)`; a nil table is every published table of the schema.
    func watchedTables() -> Set<WatchedTable> {
        state.withLock { state in
            Set(state.topics.values.flatMap { members in
                members.values.flatMap { $0.bindings.map { WatchedTable(schema: $0.schema, table: $0.table) } }
            })
        }
    }

    struct WatchedTable: Hashable, Sendable {
        let schema: String
        let table: String?
    }

    /// A `system` message to every member with `postgres_changes` bindings (the change feed's state).
    func systemMessageToChangeSubscribers(status: String, message: String) {
        let members = state.withLock { state in state.topics.values.flatMap { $0.values.filter { !$0.bindings.isEmpty } } }
        for member in members {
            member.outbox.send(Self.systemMessage(topic: member.topic, status: status, message: message, extension: "postgres_changes"))
        }
    }

    static func systemMessage(topic: String, status: String, message: String, extension: String) -> PhoenixMessage {
        PhoenixMessage(topic: topic, event: "system", payload: .object([
            "channel": .string(String(topic.dropFirst(RealtimeSession.topicPrefix.count))), "extension": .string(`extension`),
            "message": .string(message), "status": .string(status),
        ]))
    }

    /// Closes a membership from the server's side: a `system` error, then `phx_close`.
    func end(_ id: MemberID, reason: String, extension: String) {
        guard let member = leave(id) else { return }
        member.outbox.send(Self.systemMessage(topic: member.topic, status: "error", message: reason, extension: `extension`))
        member.outbox.send(PhoenixMessage(joinRef: member.joinRef, ref: member.joinRef, topic: member.topic, event: "phx_close", payload: .object([:])))
        logger.debug("realtime membership ended", metadata: ["topic": "\(member.topic)", "reason": "\(reason)"])
    }

    private func send(_ message: PhoenixMessage, to recipients: [Member]) {
        let encoded = EncodedMessage(message)
        for recipient in recipients { recipient.outbox.send(encoded) }
    }

    static func meta(_ presence: (ref: String, payload: [String: JSONValue])) -> [String: JSONValue] {
        var meta = presence.payload
        meta["phx_ref"] = .string(presence.ref)
        return meta
    }

    static func presenceDiff(joins: [String: [[String: JSONValue]]], leaves: [String: [[String: JSONValue]]]) -> JSONValue {
        func state(_ entries: [String: [[String: JSONValue]]]) -> JSONValue {
            .object(entries.mapValues { .object(["metas": .array($0.map(JSONValue.object))]) })
        }
        return .object(["joins": state(joins), "leaves": state(leaves)])
    }
}

/// The hub's clock: ends memberships whose token expired, once a second.
extension RealtimeHub: Service {
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                self.endExpired()
            }
        }
    }
}
