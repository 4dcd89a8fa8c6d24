import Auth
import Foundation

/// What a `phx_join` asked for (`payload.config`), as the Supabase clients send it.
struct ChannelConfig: Sendable {
    /// `broadcast.self`: the sender gets its own broadcasts too.
    var receivesOwnBroadcasts = false
    /// `broadcast.ack`: the server replies to each broadcast once it is sent on.
    var acknowledgesBroadcasts = false
    /// `presence.enabled` (or a key given): the joiner gets `presence_state` and may track.
    var presenceEnabled = false
    /// `presence.key`: whose presence this is; a fresh id when the client names none, as Supabase does.
    var presenceKey = UUID().uuidString.lowercased()
    /// `private`: joining and sending are authorized by the database's policies.
    var isPrivate = false
    /// `postgres_changes`: the bindings, exactly as sent (the reply must echo them).
    var postgresChanges: [JSONValue] = []

    struct Invalid: Error {
        let reason: String
    }

    init() {}

    init(joinPayload: JSONValue) throws(Invalid) {
        guard let config = joinPayload.objectValue?["config"] else { return }
        guard case .object(let fields) = config else { throw Invalid(reason: "config must be an object") }
        if let broadcast = fields["broadcast"], broadcast != .null {
            guard case .object(let options) = broadcast else { throw Invalid(reason: "config.broadcast must be an object") }
            receivesOwnBroadcasts = try Self.flag(options["self"], "config.broadcast.self")
            acknowledgesBroadcasts = try Self.flag(options["ack"], "config.broadcast.ack")
        }
        if let presence = fields["presence"], presence != .null {
            guard case .object(let options) = presence else { throw Invalid(reason: "config.presence must be an object") }
            presenceEnabled = try Self.flag(options["enabled"], "config.presence.enabled")
            switch options["key"] {
            case nil, .null?, .string("")?: break
            case .string(let key)?:
                presenceKey = key
                presenceEnabled = true
            default: throw Invalid(reason: "config.presence.key must be a string")
            }
        }
        isPrivate = try Self.flag(fields["private"], "config.private")
        switch fields["postgres_changes"] {
        case nil, .null?: break
        case .array(let bindings)?: postgresChanges = bindings
        default: throw Invalid(reason: "config.postgres_changes must be an array")
        }
    }

    private static func flag(_ value: JSONValue?, _ name: String) throws(Invalid) -> Bool {
        switch value {
        case nil, .null?: false
        case .bool(let flag)?: flag
        default: throw Invalid(reason: "\(name) must be true or false")
        }
    }
}
