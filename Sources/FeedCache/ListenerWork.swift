import Synchronization

/// Where the cache listener's time goes, as running totals since start: every write's fence waits
/// behind the listener's work, so a stage that grows with the load shows here before writes slow
/// down (`/metrics`: `feedfusion_cache_listener_busy_seconds{stage}`, `…_batches_total`).
public final class ListenerWork: Sendable {
    public enum Stage: String, Sendable, CaseIterable {
        /// Reading the batch, dropping what it changed (the followers' lookup included).
        case invalidate
        /// Of that: looking up the followers of the batch's authors and entities (a query).
        case lookup
        /// Merging follows into the followers' cached home windows.
        case merge
        /// Fan-out: new posts onto the cached homes they belong to.
        case push
        /// New posts onto their authors' shared first profile pages.
        case profiles
    }

    public struct Totals: Sendable, Equatable {
        public var batches = 0
        public var busy: [Stage: Duration] = [:]
        /// Shared first profile pages a new post was put on, and those it dropped instead.
        public var profilePagesPushed = 0, profilePagesDropped = 0
        /// Cached homes whose following of a new post's author was told by their kept relations,
        /// and those the database was asked about (none kept).
        public var audienceFromRelations = 0, audienceAsked = 0
    }

    private let totals = Mutex(Totals())

    public init() {}

    public var snapshot: Totals { totals.withLock { $0 } }

    func batch() { totals.withLock { $0.batches += 1 } }

    func countProfilePages(_ outcome: (pushed: Int, dropped: Int)) {
        totals.withLock {
            $0.profilePagesPushed += outcome.pushed
            $0.profilePagesDropped += outcome.dropped
        }
    }

    func countAudience(fromRelations: Int, asked: Int) {
        totals.withLock {
            $0.audienceFromRelations += fromRelations
            $0.audienceAsked += asked
        }
    }

    /// Counts the time since `start` to `stage`.
    func spent(_ stage: Stage, since start: ContinuousClock.Instant) {
        let spent = ContinuousClock.now - start
        totals.withLock { $0.busy[stage, default: .zero] += spent }
    }
}
