import Foundation
import Synchronization

/// The newest like count of each post, and each viewer's own likes, as the database announced them
/// (`{"t":"like"}`, migration 0020) — TAO's edge counts, kept apart from the pages that show them.
///
/// Why: a like used to drop every cached page showing the post (the author's profile, each
/// follower's home, its entities, nearby); at the seed's write rate that emptied the cache faster
/// than readers filled it. Now a like drops nothing: pages are served with these numbers patched in
/// (`FeedPageSlots`). An entry is kept as long as a page computed before it may still be served
/// (the cache's TTL plus its stale window), then forgotten: every page left is newer than it.
public final class LiveCounters: Sendable {
    struct Count {
        let value: Int
        let at: ContinuousClock.Instant
    }

    struct Like {
        let liked: Bool
        let at: ContinuousClock.Instant
    }

    struct State {
        var counts: [String: Count] = [:]
        var likes: [String: Like] = [:]
        var recordsSincePrune = 0
    }

    private let state = Mutex(State())
    private let retention: Duration
    private let clock: @Sendable () -> ContinuousClock.Instant

    public init(retention: Duration, clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.retention = retention
        self.clock = clock
    }

    /// A like or unlike committed: `post` now has `count` likes, and `viewer` likes it or not.
    /// Ids are lower-case UUID text, as PostgreSQL writes them into the pages.
    public func recordLike(post: String, count: Int, viewer: String, liked: Bool) {
        let now = clock()
        state.withLock { state in
            state.counts[post] = Count(value: count, at: now)
            state.likes[Self.likeKey(viewer: viewer, post: post)] = Like(liked: liked, at: now)
            state.recordsSincePrune += 1
            // Amortised: one pass over the entries per as many records as there are entries.
            if state.recordsSincePrune > max(1024, state.counts.count) { prune(&state, now: now) }
        }
    }

    /// Nothing recorded within the retention: every page is served as stored, without a look.
    public var isEmpty: Bool { state.withLock { $0.counts.isEmpty } }

    /// Patches for a page computed at `computedAt` and shown to `viewer` (nil: anonymous): the
    /// newer values of its counters, by post id. A value recorded before the page was computed is
    /// already in it (or older than what it has), so it is not applied.
    public func newer(than computedAt: ContinuousClock.Instant, viewer: String?) -> (
        likeCount: @Sendable (String) -> Int?, liked: @Sendable (String) -> Bool?
    ) {
        let snapshot = state.withLock { $0 }
        return (
            { post in snapshot.counts[post].flatMap { $0.at > computedAt ? $0.value : nil } },
            { post in
                guard let viewer else { return nil }
                return snapshot.likes[Self.likeKey(viewer: viewer, post: post)].flatMap { $0.at > computedAt ? $0.liked : nil }
            }
        )
    }

    var count: Int { state.withLock { $0.counts.count } }

    func prune() {
        let now = clock()
        state.withLock { prune(&$0, now: now) }
    }

    /// Forgets what every page still served already shows.
    private func prune(_ state: inout State, now: ContinuousClock.Instant) {
        state.recordsSincePrune = 0
        let horizon = now - retention
        state.counts = state.counts.filter { $0.value.at > horizon }
        state.likes = state.likes.filter { $0.value.at > horizon }
    }

    private static func likeKey(viewer: String, post: String) -> String { viewer + "/" + post }
}
