import Database
import Logging
import Redis

/// The newest write position of every instance, in Redis (one key, only ever raised): read before
/// each replica read, so that a client writing through one instance and reading through another
/// is never sent to a replica missing its write.
struct RedisWritePosition: SharedWritePosition {
    let redis: RedisClient
    static let key = "feedfusion:replicas:written"
    /// SET only when higher: concurrent raises from several instances keep the largest.
    static let raiseScript = RedisScript("""
        local current = tonumber(redis.call('GET', KEYS[1]) or '0')
        if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
        return 1
        """)

    func raise(to position: WALPosition) async {
        // Unrecorded, another instance may send this client to an older replica: better that it
        // reads the primary (current() then fails too, while Redis is away).
        _ = try? await redis.run(Self.raiseScript, keys: [Self.key], arguments: [String(position.value)])
    }

    func current() async throws -> WALPosition {
        let value = try await redis.send(["GET", Self.key])
        return WALPosition(value.string.flatMap(UInt64.init) ?? 0)
    }
}
