import Database
import Foundation

/// How long new posts took to reach the cached homes they belong to: from the post's `created_at`
/// (its transaction's start, announced as `at`) to the moment the home worker pushed it onto the
/// last of those homes. Kept as the most recent samples, so that `/metrics` shows the lag as it is
/// now, not averaged over the process's life.
public final class FanOutLag: Sendable {
    /// `count`: posts fanned out since the start; quantiles in seconds, nil before the first post.
    public typealias Summary = RecentSamples.Summary

    private let samples: RecentSamples

    public init(capacity: Int = 2048) { samples = RecentSamples(capacity: capacity) }

    /// One post pushed at `nowMicroseconds` (Unix epoch) that was created at `createdAtMicroseconds`.
    public func record(createdAtMicroseconds: Int64, nowMicroseconds: Int64 = Int64(Date().timeIntervalSince1970 * 1_000_000)) {
        // A clock step backwards would give a negative lag: it counts as none.
        samples.record(Double(max(0, nowMicroseconds - createdAtMicroseconds)) / 1_000_000)
    }

    public var summary: Summary { samples.summary }
}
