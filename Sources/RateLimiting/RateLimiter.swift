import Synchronization

/// A limit: at most `limit` events per `period`, with bursts up to `limit`.
public struct RateLimit: Sendable, Equatable {
    public let limit: Int
    public let period: Duration

    public init(limit: Int, period: Duration) {
        precondition(limit > 0 && period > .zero, "a rate limit needs a positive limit and period")
        self.limit = limit
        self.period = period
    }

    /// Time between events at the sustained rate.
    var interval: Duration { period / limit }
}

/// What the limiter decided for one event, with what the `RateLimit-*` headers report.
public struct RateLimitDecision: Sendable, Equatable {
    public let allowed: Bool
    public let limit: Int
    /// Events still allowed right now.
    public let remaining: Int
    /// Until the allowance is whole again.
    public let resetAfter: Duration
    /// When refused: how long until one more event is allowed.
    public let retryAfter: Duration?
}

/// Per-key rate limiting with the generic cell rate algorithm (GCRA): one timestamp per key (the
/// "theoretical arrival time"), exact bursts, no timers. In memory, per process.
public final class RateLimiter: Sendable {
    public let rate: RateLimit
    private let state = Mutex(State())

    private struct State {
        var arrival: [String: ContinuousClock.Instant] = [:]
        var eventsSinceSweep = 0
    }

    /// Keys are forgotten once their allowance is whole again; the sweep runs every this many events.
    private static let sweepEvery = 4096

    public init(_ rate: RateLimit) {
        self.rate = rate
    }

    /// Counts one event for `key` and says whether it is allowed.
    @discardableResult
    public func record(_ key: String, now: ContinuousClock.Instant = .now) -> RateLimitDecision {
        state.withLock { state in
            state.eventsSinceSweep += 1
            if state.eventsSinceSweep >= Self.sweepEvery {
                state.eventsSinceSweep = 0
                state.arrival = state.arrival.filter { $0.value > now }
            }
            let arrival = max(state.arrival[key] ?? now, now)
            let next = arrival + rate.interval
            if next - now > rate.period {
                return decision(allowed: false, arrival: arrival, now: now)
            }
            state.arrival[key] = next
            return decision(allowed: true, arrival: next, now: now)
        }
    }

    /// Whether one more event for `key` would be refused, without counting one.
    public func isExhausted(_ key: String, now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            let arrival = max(state.arrival[key] ?? now, now)
            return arrival + rate.interval - now > rate.period
        }
    }

    /// Forgets `key` (e.g. after a successful sign-in).
    public func reset(_ key: String) {
        _ = state.withLock { $0.arrival.removeValue(forKey: key) }
    }

    private func decision(allowed: Bool, arrival: ContinuousClock.Instant, now: ContinuousClock.Instant) -> RateLimitDecision {
        let backlog = arrival - now
        let free = rate.period - backlog
        let remaining = max(0, Int((free / rate.interval).rounded(.down)))
        let retryAfter: Duration? = allowed ? nil : max(.zero, backlog + rate.interval - rate.period)
        return RateLimitDecision(allowed: allowed, limit: rate.limit, remaining: remaining, resetAfter: backlog, retryAfter: retryAfter)
    }
}
