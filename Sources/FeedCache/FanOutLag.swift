import Database
import Foundation

/// How long new posts took to reach the cached homes they belong to: from the post's `created_at`
/// (its transaction's start, announced as `at`) to the moment the home worker pushed it onto the
/// last of those homes. Kept as the most recent samples, so that `/metrics` shows the lag as it is
/// now, not averaged over the process's life.
public final class FanOutLag: Sendable {
    public struct Summary: Sendable, Equatable {
        /// Posts fanned out since the start.
        public var posts: Int
        /// Quantiles (seconds) of the recent samples; nil before the first post.
        public var p50: Double?, p95: Double?, p99: Double?
    }

    private let samples: RecentSamples

    public init(capacity: Int = 2048) { samples = RecentSamples(capacity: capacity) }

    /// One post pushed at `nowMicroseconds` (Unix epoch) that was created at `createdAtMicroseconds`.
    public func record(createdAtMicroseconds: Int64, nowMicroseconds: Int64 = Int64(Date().timeIntervalSince1970 * 1_000_000)) {
        // A clock step backwards would give a negative lag: it counts as none.
        samples.record(Double(max(0, nowMicroseconds - createdAtMicroseconds)) / 1_000_000)
    }

    public var summary: Summary {
        let summary = samples.summary
        return Summary(posts: summary.count, p50: summary.p50, p95: summary.p95, p99: summary.p99)
    }
}
