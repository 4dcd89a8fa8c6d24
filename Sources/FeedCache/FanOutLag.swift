import Foundation
import Synchronization

/// How long new posts took to reach the cached homes they belong to: from the post's `created_at`
/// (its transaction's start, announced as `at`) to the moment the listener pushed it onto the last
/// of those homes. Kept as the most recent samples, so that `/metrics` shows the lag as it is now,
/// not averaged over the process's life.
public final class FanOutLag: Sendable {
    public struct Summary: Sendable, Equatable {
        /// Posts fanned out since the start.
        public var posts: Int
        /// Quantiles (seconds) of the recent samples; nil before the first post.
        public var p50: Double?, p95: Double?, p99: Double?
    }

    private struct State {
        var samples: [Double] = []
        var next = 0
        var posts = 0
    }
    private let state = Mutex(State())
    let capacity: Int

    public init(capacity: Int = 2048) { self.capacity = max(1, capacity) }

    /// One post pushed at `nowMicroseconds` (Unix epoch) that was created at `createdAtMicroseconds`.
    public func record(createdAtMicroseconds: Int64, nowMicroseconds: Int64 = Int64(Date().timeIntervalSince1970 * 1_000_000)) {
        // A clock step backwards would give a negative lag: it counts as none.
        let seconds = Double(max(0, nowMicroseconds - createdAtMicroseconds)) / 1_000_000
        state.withLock { state in
            state.posts += 1
            if state.samples.count < capacity {
                state.samples.append(seconds)
            } else {
                state.samples[state.next] = seconds
                state.next = (state.next + 1) % capacity
            }
        }
    }

    public var summary: Summary {
        let (samples, posts) = state.withLock { ($0.samples, $0.posts) }
        guard !samples.isEmpty else { return Summary(posts: posts) }
        let sorted = samples.sorted()
        // Nearest rank: the smallest sample with at least q of them at or below it.
        func pick(_ q: Double) -> Double { sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))] }
        return Summary(posts: posts, p50: pick(0.50), p95: pick(0.95), p99: pick(0.99))
    }
}
