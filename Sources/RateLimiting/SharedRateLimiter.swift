import Logging
import Redis
import Synchronization

/// Counts requests where the HTTP layer asks: in this process, or shared by every instance.
public protocol RequestLimiter: Sendable {
    var rate: RateLimit { get }
    func record(_ key: String, now: ContinuousClock.Instant) async -> RateLimitDecision
    /// Forgets `key`'s events (a successful sign-in clears its failures).
    func reset(_ key: String) async
}

extension RateLimiter: RequestLimiter {}

/// The same sliding window kept in Redis, so that a limit holds across server instances: one sorted
/// set of event times per key, updated atomically by a Lua script that reads Redis's own clock.
/// When Redis fails or is slow, the in-process limiter decides instead (a warning when that starts,
/// a notice when Redis answers again): requests keep being served and limited, per instance. After a
/// failure Redis is left alone for `backoff`, so a Redis that hangs costs one request its timeout,
/// not every request.
public final class SharedRateLimiter: RequestLimiter {
    public let rate: RateLimit
    let redis: RedisClient
    let local: RateLimiter
    let prefix: String
    let logger: Logger
    let backoff: Duration
    private let usingFallback = Atomic<Bool>(false)
    /// Until when the in-process limiter decides without asking Redis.
    private let skipUntil = Mutex<ContinuousClock.Instant?>(nil)
    /// Decisions made by the in-process limiter because Redis failed (for metrics).
    public let fallbacks = Atomic<Int>(0)

    public init(_ rate: RateLimit, redis: RedisClient, prefix: String, logger: Logger, backoff: Duration = .seconds(1)) {
        self.rate = rate
        self.backoff = backoff
        self.redis = redis
        self.prefix = prefix
        self.logger = logger
        local = RateLimiter(rate)
    }

    static let script = RedisScript("""
        local key, seq = KEYS[1], KEYS[2]
        local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
        local burst, burstWindow = tonumber(ARGV[3]), tonumber(ARGV[4])
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
        local count = redis.call('ZCARD', key)
        local waits = {}
        if count >= limit then
          local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
          table.insert(waits, tonumber(oldest[2]) + window - now)
        end
        if burst < limit then
          local recent = redis.call('ZREVRANGE', key, burst - 1, burst - 1, 'WITHSCORES')
          if recent[2] and tonumber(recent[2]) > now - burstWindow then
            table.insert(waits, tonumber(recent[2]) + burstWindow - now)
          end
        end
        local allowed = #waits == 0
        if allowed then
          local n = redis.call('INCR', seq)
          redis.call('ZADD', key, now, n)
          count = count + 1
          redis.call('PEXPIRE', key, math.ceil(window / 1000))
          redis.call('PEXPIRE', seq, math.ceil(window / 1000))
        end
        local retry = 0
        for _, w in ipairs(waits) do if w > retry then retry = w end end
        local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
        local reset = 0
        if newest[2] then reset = tonumber(newest[2]) + window - now end
        return {allowed and 1 or 0, limit - count, reset, retry}
        """)

    public func record(_ key: String, now: ContinuousClock.Instant) async -> RateLimitDecision {
        let redisKey = "\(prefix):\(key)"
        if let until = skipUntil.withLock({ $0 }), ContinuousClock.now < until { return decideLocally(key, now: now) }
        do {
            let reply = try await redis.run(
                Self.script, keys: [redisKey, redisKey + ":seq"],
                arguments: ["\(rate.limit)", "\(Self.microseconds(rate.period))", "\(rate.burst)", "\(Self.microseconds(rate.burstWindow))"])
            guard let values = reply.array?.compactMap(\.integer), values.count == 4 else {
                throw RedisError.unexpectedReply("\(reply)")
            }
            if usingFallback.exchange(false, ordering: .relaxed) { logger.notice("rate limits are shared through Redis again") }
            let allowed = values[0] == 1
            return RateLimitDecision(
                allowed: allowed, limit: rate.limit, remaining: max(0, values[1]), resetAfter: .microseconds(max(0, values[2])),
                retryAfter: allowed ? nil : .microseconds(max(0, values[3])))
        } catch {
            skipUntil.withLock { $0 = .now + backoff }
            if !usingFallback.exchange(true, ordering: .relaxed) {
                logger.warning("Redis unavailable: rate limits are per instance until it answers", metadata: ["error": "\(error)"])
            }
            return decideLocally(key, now: now)
        }
    }

    public func reset(_ key: String) async {
        local.reset(key)
        let redisKey = "\(prefix):\(key)"
        _ = try? await redis.send(["DEL", redisKey, redisKey + ":seq"])
    }

    private func decideLocally(_ key: String, now: ContinuousClock.Instant) -> RateLimitDecision {
        fallbacks.add(1, ordering: .relaxed)
        return local.record(key, now: now)
    }

    static func microseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
    }
}
