import Foundation

/// Limits of `/realtime/v1`, per connection and for the whole server, like Supabase Realtime's
/// (its free plan: 100 channels per client, 256 KB payloads); a client past one gets a Phoenix
/// error naming it, never a dropped connection without a word.
public struct RealtimeSettings: Sendable {
    public var enabled = true
    /// WebSocket connections open at once on this server.
    public var maxConnections = 20_000
    /// Channels one connection may have joined at once.
    public var maxChannelsPerConnection = 100
    /// Joins per second one connection may make (a client rejoining in a loop).
    public var maxJoinsPerSecond = 100
    /// Broadcast and presence messages per second one connection may send.
    public var maxEventsPerSecond = 100
    /// The largest frame a client may send, in bytes.
    public var maxPayloadBytes = 256 * 1024
    /// Messages queued for one connection that has not read them; past it the connection is told
    /// it fell behind and is closed (a bounded queue, never a silent drop).
    public var outboundQueue = 1_000
    /// Announced database changes waiting to be delivered (writes outrunning delivery); past it
    /// changes are dropped and every changes subscriber is told (`ChangesDropped`).
    public var changeQueue = 100_000

    public init() {}
}

extension RealtimeSettings {
    init(reader: SettingsReader) throws {
        self.init()
        enabled = try reader.boolean("REALTIME_ENABLED") ?? enabled
        maxConnections = try reader.integer("REALTIME_MAX_CONNECTIONS", in: 1...1_000_000) ?? maxConnections
        maxChannelsPerConnection = try reader.integer("REALTIME_MAX_CHANNELS_PER_CONNECTION", in: 1...10_000) ?? maxChannelsPerConnection
        maxJoinsPerSecond = try reader.integer("REALTIME_MAX_JOINS_PER_SECOND", in: 1...100_000) ?? maxJoinsPerSecond
        maxEventsPerSecond = try reader.integer("REALTIME_MAX_EVENTS_PER_SECOND", in: 1...1_000_000) ?? maxEventsPerSecond
        maxPayloadBytes = try reader.integer("REALTIME_MAX_PAYLOAD_BYTES", in: 1024...16 << 20) ?? maxPayloadBytes
        outboundQueue = try reader.integer("REALTIME_OUTBOUND_QUEUE", in: 16...1_000_000) ?? outboundQueue
        changeQueue = try reader.integer("REALTIME_CHANGE_QUEUE", in: 1...10_000_000) ?? changeQueue
    }
}
