import Foundation
import Synchronization

/// One viewer's relations as the database gave them under the viewer's own role (the same helper
/// functions the policies call): whom they block or are blocked by, whom they follow, which posts
/// they liked, whether they are an admin. With them the server can tell when a viewer's view of a
/// page is the anonymous one (`SharedPages`), and fill in the viewer's hearts on a shared page.
public struct ViewerRelations: Sendable {
    public let blockPartners: Set<UUID>
    public let blockedBy: Set<UUID>
    public var followed: Set<UUID>
    public var liked: Set<UUID>
    public let admin: Bool
    /// When the query that read them started: likes announced after it are applied over them.
    public let loadedAt: ContinuousClock.Instant

    public init(
        blockPartners: Set<UUID>, blockedBy: Set<UUID>, followed: Set<UUID>, liked: Set<UUID>, admin: Bool,
        loadedAt: ContinuousClock.Instant
    ) {
        self.blockPartners = blockPartners
        self.blockedBy = blockedBy
        self.followed = followed
        self.liked = liked
        self.admin = admin
        self.loadedAt = loadedAt
    }
}

/// The viewers' relations, each kept until its viewer's follows or blocks change (the `viewers`
/// announcement drops it, through the `viewer:` tag), the cache is dropped, or the TTL passes.
public final class ViewerRelationsStore: Sendable {
    /// A class, read and changed only under the store's lock: the listener's pass over every cached
    /// home (`followers(of:among:)`) reads each entry in place, where a struct was copied whole, its
    /// four sets retained and released (perf at 1,000 users: the copies were a quarter of the pass;
    /// the pass, ~3,000 homes a batch with a post, is still 5–7 % of the server's samples).
    final class Entry {
        var relations: ViewerRelations
        let expiresAt: ContinuousClock.Instant

        init(relations: ViewerRelations, expiresAt: ContinuousClock.Instant) {
            self.relations = relations
            self.expiresAt = expiresAt
        }
    }

    struct State {
        var entries: [String: Entry] = [:]
        /// When each viewer's relations were last dropped: a load that started before must not store.
        var forgotten: [String: ContinuousClock.Instant] = [:]
        var forgottenAll: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    private let ttl: Duration
    private let maxEntries: Int
    private let clock: @Sendable () -> ContinuousClock.Instant

    public init(ttl: Duration, maxEntries: Int, clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.ttl = ttl
        self.maxEntries = maxEntries
        self.clock = clock
    }

    public func cached(_ viewer: String) -> ViewerRelations? {
        let now = clock()
        return state.withLock { state in
            guard let entry = state.entries[viewer] else { return nil }
            guard entry.expiresAt > now else {
                state.entries[viewer] = nil
                return nil
            }
            return entry.relations
        }
    }

    /// Keeps `relations` unless they were dropped after their query started (it may predate the change).
    public func store(_ viewer: String, _ relations: ViewerRelations) {
        let now = clock()
        state.withLock { state in
            if let all = state.forgottenAll, all >= relations.loadedAt { return }
            if let at = state.forgotten[viewer], at >= relations.loadedAt { return }
            if state.entries.count >= maxEntries {
                // Full: the expired go first, then (rarely) everything; a miss costs one query.
                state.entries = state.entries.filter { $0.value.expiresAt > now }
                if state.entries.count >= maxEntries { state.entries.removeAll() }
            }
            state.entries[viewer] = Entry(relations: relations, expiresAt: now + ttl)
        }
    }

    public func forget(_ viewer: String) {
        let now = clock()
        state.withLock { state in
            state.entries[viewer] = nil
            state.forgotten[viewer] = now
            // The marks are needed only while a load may be running (far less than the TTL).
            if state.forgotten.count > maxEntries { state.forgotten = state.forgotten.filter { now - $0.value < ttl } }
        }
    }

    public func forgetAll() {
        let now = clock()
        state.withLock { state in
            state.entries.removeAll()
            state.forgotten.removeAll()
            state.forgottenAll = now
        }
    }

    /// A follow or unfollow of `profile` announced by the database (accepted: `following`), applied to
    /// the follower's kept relations. A load that started before it may have read from before it: it
    /// is not stored (as after `forget`).
    public func recordFollow(viewer: String, profile: UUID, following: Bool) {
        let now = clock()
        state.withLock { state in
            state.forgotten[viewer] = now
            if state.forgotten.count > maxEntries { state.forgotten = state.forgotten.filter { now - $0.value < ttl } }
            guard state.entries[viewer] != nil else { return }
            if following {
                state.entries[viewer]!.relations.followed.insert(profile)
            } else {
                state.entries[viewer]!.relations.followed.remove(profile)
            }
        }
    }

    /// Which of `viewers` follow (accepted) each of `profiles`, by their kept relations — which the
    /// listener keeps in step with every follow it is told of (`recordFollow`, or `forget` when it
    /// cannot tell how) — and, apart, the viewers with none kept: the caller asks the database
    /// about those. One pass over the viewers under the lock: the listener runs this for every
    /// batch with a post, over every cached home.
    public func followers(of profiles: Set<UUID>, among viewers: some Sequence<String>) -> (following: [UUID: Set<String>], unknown: [String]) {
        guard !profiles.isEmpty else { return ([:], []) }
        let now = clock()
        let authors = Array(profiles)
        return state.withLock { state in
            var following: [UUID: Set<String>] = [:], unknown: [String] = []
            for viewer in viewers {
                guard let entry = state.entries[viewer], entry.expiresAt > now else {
                    unknown.append(viewer)
                    continue
                }
                for author in authors where entry.relations.followed.contains(author) {
                    following[author, default: []].insert(viewer)
                }
            }
            return (following, unknown)
        }
    }

    /// A like or unlike announced by the database, applied to the liker's kept relations.
    public func recordLike(viewer: String, post: UUID, liked: Bool) {
        state.withLock { state in
            guard state.entries[viewer] != nil else { return }
            if liked { state.entries[viewer]!.relations.liked.insert(post) } else { state.entries[viewer]!.relations.liked.remove(post) }
        }
    }
}
