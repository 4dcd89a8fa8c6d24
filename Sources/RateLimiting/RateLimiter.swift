import Synchronization

/// A limit: at most `limit` events in any window of `period`, and — when `burst` is smaller than
/// `limit` — at most `burst` events in any window of `period · burst / limit` (a smoother pace).
public struct RateLimit: Sendable, Equatable {
    public let limit: Int
    public let period: Duration
    public let burst: Int

    public init(limit: Int, period: Duration, burst: Int? = nil) {
        precondition(limit > 0 && period > .zero, "a rate limit needs a positive limit and period")
        self.limit = limit
        self.period = period
        self.burst = min(max(1, burst ?? limit), limit)
    }

    /// The short window the burst applies to.
    var burstWindow: Duration { period * burst / limit }
}

/// What the limiter decided for one event, with what the `RateLimit` headers report.
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

/// Per-key rate limiting with an exact sliding window: each key keeps the times of its events in the
/// last `period` (at most `limit` of them, in a ring), so "100 per minute" means no 101st request
/// in any 60 seconds — not 100 plus whatever a refilling bucket lets through. In memory, per process.
public final class RateLimiter: Sendable {
    public let rate: RateLimit
    private let state = Mutex(State())

    private struct State {
        var windows: [String: EventWindow] = [:]
        var eventsSinceSweep = 0
    }

    /// Keys whose window is empty are forgotten; the sweep runs every this many events.
    private static let sweepEvery = 4096

    public init(_ rate: RateLimit) {
        self.rate = rate
    }

    /// Counts one event for `key` when it is allowed, and says whether it was.
    @discardableResult
    public func record(_ key: String, now: ContinuousClock.Instant = .now) -> RateLimitDecision {
        state.withLock { state in
            state.eventsSinceSweep += 1
            if state.eventsSinceSweep >= Self.sweepEvery {
                state.eventsSinceSweep = 0
                let horizon = now - rate.period
                state.windows = state.windows.filter { ($0.value.newest ?? horizon) > horizon }
            }
            var window = state.windows.removeValue(forKey: key) ?? EventWindow()
            window.expire(before: now - rate.period)
            let wait = wait(window, now: now)
            if wait == nil { window.append(now) }
            state.windows[key] = window
            return decision(window, now: now, retryAfter: wait)
        }
    }

    /// Whether one more event for `key` would be refused, without counting one.
    public func isExhausted(_ key: String, now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            guard var window = state.windows[key] else { return false }
            window.expire(before: now - rate.period)
            return wait(window, now: now) != nil
        }
    }

    /// Forgets `key` (e.g. after a successful sign-in).
    public func reset(_ key: String) {
        _ = state.withLock { $0.windows.removeValue(forKey: key) }
    }

    /// How long until one more event would be allowed; nil when it is allowed now. The window is
    /// already expired to `now`.
    private func wait(_ window: EventWindow, now: ContinuousClock.Instant) -> Duration? {
        var waits: [Duration] = []
        if window.count >= rate.limit, let oldest = window.oldest { waits.append(oldest + rate.period - now) }
        // A full burst: the burst-th most recent event is still inside the burst window.
        if rate.burst < rate.limit, let first = window.element(fromNewest: rate.burst - 1), first > now - rate.burstWindow {
            waits.append(first + rate.burstWindow - now)
        }
        return waits.max().map { max(.zero, $0) }
    }

    /// What the headers report after the event was counted (or refused, with `retryAfter`).
    private func decision(_ window: EventWindow, now: ContinuousClock.Instant, retryAfter: Duration?) -> RateLimitDecision {
        RateLimitDecision(
            allowed: retryAfter == nil, limit: rate.limit, remaining: max(0, rate.limit - window.count),
            resetAfter: window.newest.map { max(.zero, $0 + rate.period - now) } ?? .zero, retryAfter: retryAfter)
    }
}

/// The times of one key's recent events, oldest first: an array consumed from the front and
/// compacted when half of it is spent, so both ends cost O(1) amortised and memory follows use.
struct EventWindow {
    private var times: [ContinuousClock.Instant] = []
    private var head = 0

    var count: Int { times.count - head }
    var oldest: ContinuousClock.Instant? { count > 0 ? times[head] : nil }
    var newest: ContinuousClock.Instant? { count > 0 ? times.last : nil }

    /// The `offset`-th most recent event (0 is the newest).
    func element(fromNewest offset: Int) -> ContinuousClock.Instant? {
        offset < count ? times[times.count - 1 - offset] : nil
    }

    mutating func expire(before horizon: ContinuousClock.Instant) {
        while head < times.count, times[head] <= horizon { head += 1 }
        if head == times.count {
            times.removeAll(keepingCapacity: true)
            head = 0
        }
    }

    mutating func append(_ instant: ContinuousClock.Instant) {
        if head > 0, head * 2 >= times.count {
            times.removeFirst(head)
            head = 0
        }
        times.append(instant)
    }
}
