import Database
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Drops cached answers that a committed write changed, whoever made it (REST, RPC, another server
/// instance, psql): triggers announce writes on `feedfusion_cache` and every instance listens.
///
/// A post changes its author's profile feed, its targets' feeds, the home feeds of its author, of
/// the profiles it targets and of everyone following the author or a targeted entity, and — when
/// located — nearby feeds. Followers are looked up only among users whose home feed is cached
/// (here or, with Redis, in the shared level). With Redis, every instance also replaces the shared
/// versions of what the write changed. When the listening connection drops, events may have been
/// missed: everything is dropped. A write through the data API waits for its fence (`fences`), so
/// that its writer reads it back.
public struct CacheInvalidationListener: Service {
    public static let channel = "feedfusion_cache"
    /// Set for the transaction by a write the triggers announced (migration 0016): it needs a fence.
    public static let marker = "feedfusion.cache_announced"
    /// The most cached homes without kept relations whose follows the listener asks about by id
    /// (past it, it reads every follower of the authors instead, as a statement with more ids
    /// costs more to plan than the scan).
    static let mostViewersAsked = 200
    let client: PostgresClient
    let cache: ResponseCache
    let fences: WriteFences?
    /// Homes open live (realtime): new posts reach them from the same fan-out.
    let liveHomes: (any LiveHomeFeeds)?
    let logger: Logger
    /// Runs before a batch of announcements drops what it names (read replicas learn that a write
    /// happened before any read could refill the cache from an older replica).
    public var beforeApplying: (@Sendable () async -> Void)?
    /// Runs before the home and profile workers apply a batch (tests slow or stop the workers with it).
    public var beforeHomeWork: (@Sendable () async -> Void)?

    public init(client: PostgresClient, cache: ResponseCache, fences: WriteFences? = nil, liveHomes: (any LiveHomeFeeds)? = nil, logger: Logger) {
        self.client = client
        self.cache = cache
        self.fences = fences
        self.liveHomes = liveHomes
        self.logger = logger
    }

    public func run() async throws {
        let queue = BatchQueue<String>()
        let homeWork = BatchQueue<HomeWork>()
        let profileWork = BatchQueue<[NewProfilePost]>()
        await withDiscardingTaskGroup { group in
            group.addTask {
                await queue.batches { payloads, connection in
                    guard let work = await apply(payloads, on: connection) else { return }
                    // Two workers: a profile's readers need not wait behind other homes' pushes.
                    if !work.profilePosts.isEmpty { profileWork.push(work.profilePosts) }
                    if !work.follows.isEmpty || !work.posts.isEmpty { homeWork.push(work) }
                }
                homeWork.finish()
                profileWork.finish()
            }
            group.addTask { await homeWork.batches { work, _ in await apply(work) } }
            group.addTask { await profileWork.batches { posts, _ in await apply(profilePosts: posts.flatMap { $0 }) } }
            await cancelWhenGracefulShutdown {
                await client.listenContinuously(
                    on: Self.channel, logger: logger,
                    // Writes committed while nobody listened were never announced to us.
                    connected: { connection in
                        queue.setConnection(connection)
                        await cache.invalidateAllEverywhere()
                        fences?.setListening(true)
                    },
                    lost: {
                        queue.setConnection(nil)
                        logger.warning("cache invalidation listener lost its connection; cache dropped")
                        await cache.invalidateAllEverywhere()
                        // After the drop: a writer let go now reads nothing cached from before its write.
                        fences?.setListening(false)
                    }
                ) { payload in
                    queue.push(payload)
                }
            }
            queue.finish()
        }
        fences?.setListening(false)  // stopped: nobody will see a fence any more
    }

    /// A new post for the home worker: when its announcement arrived (`mark`), and the viewers whose
    /// homes may get it (its author, the profiles it targets, the followers of its author and of its
    /// entities among the cached homes: nil when not looked up, then every cached home is asked).
    struct NewPost: Sendable {
        let id: UUID
        let at: Int64
        let mark: Int
        var audience: Set<UUID>?
    }

    /// A new post (without targets) for its author's shared first profile pages (`ProfilePost`).
    struct NewProfilePost: Sendable {
        let id: UUID
        let author: UUID
        let mark: Int
    }

    /// What a batch of announcements leaves for the home worker: follows to merge into the
    /// followers' windows and new posts to push onto the homes they belong to, each with the mark
    /// taken when it arrived, and the homes held meanwhile for posts (`PageHolds`; a follow holds
    /// its follower's home).
    struct HomeWork: Sendable {
        var follows: [(viewer: UUID, profile: UUID?, entity: UUID?)] = []
        var posts: [NewPost] = []
        /// New posts for their authors' shared first profile pages, their authors held meanwhile.
        var profilePosts: [NewProfilePost] = []
        var toCache = true
        var live: Set<UUID> = []
        var held: [String] = []
    }

    /// Applies announced writes, in one pass, to the cache; then lets go the writers whose fences
    /// came with them, and answers what is left for the home worker. Queries run on `connection`.
    ///
    /// A transaction's notifications arrive together, its fence last. Every writer is let go once
    /// the invalidations are applied: the merges and pushes that correct cached homes in place (the
    /// slow part of a batch under load: a post to thousands of followers, a follow's merge) are the
    /// home worker's, after the writers' answers, and the homes they will change are held until
    /// then, so that a follower who reads after the author's answer waits for the post rather than
    /// the author for every follower, and a like need not wait behind other people's posts.
    func apply(_ payloads: [String], on connection: PostgresConnection?) async -> HomeWork? {
        let work = cache.listenerWork
        work.batch()
        let started = ContinuousClock.now
        // Computations started after this read the database after every write of this batch.
        let mark = cache.mark()
        await beforeApplying?()
        var tags: [CacheTag] = []
        var kinds: Set<String> = []
        var authors: Set<UUID> = [], entities: Set<UUID> = []
        // Each pushed post's author and targeted profiles, and whom their followers it reaches.
        var audiences: [UUID: (homes: Set<UUID>, authors: Set<UUID>, entities: Set<UUID>)] = [:]
        var held: Set<String> = []
        // New posts (no targets) of this batch's fan-out: onto their authors' shared first profile pages.
        var profilePosts: [(post: UUID, author: UUID)] = []
        var passed: [UUID] = []
        var dropAll = false
        var follows: [(viewer: UUID, profile: UUID?, entity: UUID?)] = []
        let events = payloads.map { (payload: $0, event: InvalidationEvent.decode($0)) }
        // New posts go on top of the cached homes they belong to (fan-out on write) instead of
        // dropping them. Without a connection to ask, or with a shared level in Redis (whose copies
        // the other instances read), they drop the homes as other changes do — and still reach the
        // homes open live on this instance (realtime), which the fan-out serves either way.
        let pushToCache = connection != nil && cache.shared == nil
        let live = liveHomes?.liveViewers() ?? []
        let fanOut = pushToCache || (connection != nil && !live.isEmpty)
        var inserted: [NewPost] = []
        if fanOut {
            for case let event? in events.map(\.event) where event.t == .post && event.op == "INSERT" {
                if let id = event.id, let at = event.at { inserted.append(NewPost(id: id, at: at, mark: mark)) }
            }
        }
        // Posts whose homes get them pushed, not dropped.
        let insertedIDs = pushToCache ? Set(inserted.map(\.id)) : []
        for (payload, event) in events {
            guard let event else {
                logger.warning("unreadable cache invalidation event; cache dropped", metadata: ["payload": "\(payload.prefix(200))"])
                dropAll = true
                continue
            }
            let eventEntities = event.e ?? []
            // A post of this batch's fan-out (or a target of one): its followers' and mentioned
            // users' homes get it pushed by the home worker, held until then; everything else it
            // shows in is dropped as before.
            let pushed = event.id.map(insertedIDs.contains) ?? false
            switch event.t {
            case .post, .target:
                if let author = event.a {
                    if pushed, event.t == .post, event.op == "INSERT", let id = event.id, (event.p ?? []).isEmpty, eventEntities.isEmpty {
                        profilePosts.append((id, author))
                    } else {
                        tags.append(.profile(CacheTag.id(author)))
                    }
                }
                tags += eventEntities.map { .entity(CacheTag.id($0)) }
                if event.loc == true { tags.append(.nearby) }
                // The author's own home gets the post too (reason `self`), and so do the homes of
                // the profiles it targets and of whoever follows the author or a targeted entity.
                let homes = (event.a.map { [$0] } ?? []) + (event.p ?? [])
                if pushed, let id = event.id {
                    audiences[id, default: ([], [], [])].homes.formUnion(homes)
                    if let author = event.a { audiences[id]!.authors.insert(author) }
                    audiences[id]!.entities.formUnion(eventEntities)
                } else {
                    tags += homes.map { .home(CacheTag.id($0)) }
                    if let author = event.a { authors.insert(author) }
                    entities.formUnion(eventEntities)
                }
            case .viewers:
                tags += (event.v ?? []).map { .viewer(CacheTag.id($0)) }
            case .follow:
                guard let viewer = event.u else { continue }
                // Merged into the window by the home worker when this instance can ask and owns its copies.
                if pushToCache {
                    // The relations (whom they follow) are corrected in place when the event says how.
                    let change = event.relationsChange
                    cache.invalidate(viewerKeepingWindows: CacheTag.id(viewer), keepingRelations: change != .unknown)
                    if case .profile(let profile, let following) = change {
                        cache.relations.recordFollow(viewer: CacheTag.id(viewer), profile: profile, following: following)
                    }
                    follows.append((viewer, event.a, event.e?.first))
                } else {
                    tags.append(.viewer(CacheTag.id(viewer)))
                }
            case .profile:
                if let author = event.a { tags += [.profile(CacheTag.id(author)), .home(CacheTag.id(author))] }
                // Its posts may be in any entity or nearby feed, and in the home of anyone following a
                // place it targets; it may be mentioned on any page (a mention shows only while the
                // profile is visible): rare enough to drop those wholesale.
                kinds.formUnion(["entity", "nearby", "profile", "home"])
                if let author = event.a { authors.insert(author) }
            case .like:
                if let post = event.id, let count = event.n, let user = event.u, let liked = event.l {
                    cache.counters.recordLike(post: CacheTag.id(post), count: count, viewer: CacheTag.id(user), liked: liked)
                    cache.relations.recordLike(viewer: CacheTag.id(user), post: post, liked: liked)
                }
            case .all:
                dropAll = true
            case .fence:
                if let token = event.f { passed.append(token) }
            }
        }
        var toProfiles: [NewProfilePost] = []
        if !dropAll {
            do {
                let lookup = ContinuousClock.now
                defer { work.spent(.lookup, since: lookup) }
                let found = try await followers(
                    dropping: (authors, entities),
                    holding: (Set(audiences.values.flatMap(\.authors)), Set(audiences.values.flatMap(\.entities))), on: connection)
                tags += found.dropped.map { .home(CacheTag.id($0)) }
                for index in inserted.indices {
                    guard let audience = audiences[inserted[index].id] else { continue }
                    var viewers = audience.homes
                    for author in audience.authors { viewers.formUnion(found.ofProfile[author] ?? []) }
                    for entity in audience.entities { viewers.formUnion(found.ofEntity[entity] ?? []) }
                    inserted[index].audience = viewers
                    held.formUnion(viewers.map(CacheTag.id))
                }
            } catch {
                logger.warning("could not resolve followers for cache invalidation; cache dropped", metadata: ["error": "\(String(reflecting: error))"])
                dropAll = true
            }
        }
        var left: HomeWork?
        if dropAll {
            await cache.invalidateAllEverywhere()
        } else {
            if !tags.isEmpty || !kinds.isEmpty {
                await cache.invalidateEverywhere(tags, kinds: kinds.sorted())
            }
            // The authors' other profile pages go now (their own among them); the shared first pages
            // are held for the profile worker, which puts the post on them.
            for (post, author) in profilePosts {
                let (kept, dropped) = cache.dropProfile(of: CacheTag.id(author), keepingFirstPagesBefore: mark)
                work.countProfilePages((0, dropped))
                if !kept.isEmpty { toProfiles.append(NewProfilePost(id: post, author: author, mark: mark)) }
            }
            cache.profileHolds.hold(posts: toProfiles.map { CacheTag.id($0.author) }, mark: mark)
            if !follows.isEmpty || !inserted.isEmpty || !toProfiles.isEmpty {
                // Held before the writers are let go: a read after their answer waits for the worker.
                let holding = pushToCache ? Array(held) : []
                cache.homeHolds.hold(posts: holding, mark: mark)
                cache.homeHolds.hold(follows: follows.map { CacheTag.id($0.viewer) })
                left = HomeWork(follows: follows, posts: inserted, profilePosts: toProfiles, toCache: pushToCache, live: live, held: holding)
            }
        }
        work.spent(.invalidate, since: started)
        for token in passed { fences?.passed(token) }
        return left
    }

    /// The home worker: merges and pushes left by the listener's batches, in their order (several
    /// batches' at once when it fell behind), on a pooled connection; then the homes they held go.
    /// When no connection can be had, the homes they would change are dropped instead.
    func apply(_ batches: [HomeWork]) async {
        let work = cache.listenerWork
        let follows = batches.flatMap(\.follows)
        let posts = batches.flatMap(\.posts)
        let toCache = batches.contains { $0.toCache }
        let live = batches.reduce(into: Set<UUID>()) { $0.formUnion($1.live) }
        let held = batches.flatMap(\.held)
        var heldFollows = follows.map { CacheTag.id($0.viewer) }
        defer { cache.homeHolds.release(posts: held, follows: heldFollows) }
        await beforeHomeWork?()
        do {
            try await client.withConnection { connection in
                if !follows.isEmpty {
                    let started = ContinuousClock.now
                    await merge(follows, on: connection)
                    work.spent(.merge, since: started)
                    // Merged: the followers' reads need not wait for the posts' push too (unless a post holds them).
                    cache.homeHolds.release(posts: [String](), follows: heldFollows)
                    heldFollows = []
                }
                if !posts.isEmpty {
                    let started = ContinuousClock.now
                    await push(posts, on: connection, toCache: toCache, live: live)
                    work.spent(.push, since: started)
                }
            }
        } catch {
            logger.warning("home worker had no connection; the homes it would change are dropped", metadata: ["error": "\(String(reflecting: error))"])
            await cache.invalidateEverywhere(held.map { .home($0) } + follows.map { .viewer(CacheTag.id($0.viewer)) })
        }
    }

    /// Fan-out on write: each new post onto the cached first pages of the homes it belongs to, as
    /// the database says each viewer sees it (`internal.home_fanout`, migrations 0021, 0022, 0026). One query for
    /// the whole batch, not one per post: the listener is serial, and under load a round trip per
    /// post let it fall behind the writes (seconds of lag at 30 posts/s on a busy machine), while a
    /// batch grows with the backlog, so the lag stays bounded. When that cannot be asked, those homes
    /// are dropped instead: never left without the post.
    /// `live`: the homes open live (realtime) on this instance, which get the rows too.
    /// Each post goes only onto pages computed before its `mark` (`ResponseCache.push(_:toHomeOf:since:)`).
    /// Only each post's audience is asked about (when the listener looked it up): a post of an author
    /// with a few followers costs a few probes, not a join with every cached home.
    func push(_ posts: [NewPost], on connection: PostgresConnection, toCache: Bool = true, live: Set<UUID> = []) async {
        // The posts' audiences with a home cached (any page: `push(_:toHomeOf:)` drops those it cannot
        // put the post on); every cached home only for a post whose audience was not looked up.
        let cached: Set<UUID>
        if !toCache {
            cached = []
        } else if posts.allSatisfy({ $0.audience != nil }) {
            let audience = Set(posts.flatMap { $0.audience ?? [] }.map(CacheTag.id))
            cached = Set(cache.ids(ofKind: "home", among: audience).compactMap(UUID.init(uuidString:)))
        } else {
            cached = Set(cache.ids(ofKind: "home").compactMap(UUID.init(uuidString:)))
        }
        // One (post, viewer) pair per home asked, in the order the posts were announced (their
        // commit order); each post goes in its keyset place.
        var pairPosts: [UUID] = [], pairViewers: [UUID] = [], pairOrder: [Int] = []
        for (index, post) in posts.enumerated() {
            let viewers = (post.audience.map { $0.intersection(cached) } ?? cached).union(live)
            for viewer in viewers {
                pairPosts.append(post.id)
                pairViewers.append(viewer)
                pairOrder.append(index)
            }
        }
        guard !pairViewers.isEmpty else { return }
        let (postIDs, viewerIDs, order) = (pairPosts, pairViewers, pairOrder)
        let marks = Dictionary(posts.map { ($0.id, $0.mark) }, uniquingKeysWith: min)
        do {
            let logger = logger
            let cache = cache, liveHomes = liveHomes
            // Guarded: on a connection that just died the query's answer may never come (see untilConnectionLost).
            // Rows are used as they arrive, live homes first: a post to 1,000 followers is 1,000
            // rows, and the first follower need not wait for the last row to be read.
            try await untilConnectionLost(connection) {
                let rows = try await connection.query(
                    """
                    SELECT p.id, f.viewer, f.item
                    FROM (SELECT x.id, min(x.n) AS n, array_agg(x.viewer) AS viewers
                          FROM unnest(\(postIDs)::uuid[], \(viewerIDs)::uuid[], \(order)::int[]) AS x(id, viewer, n)
                          GROUP BY x.id) p
                    CROSS JOIN LATERAL internal.home_fanout(p.id, p.viewers) f
                    ORDER BY p.n
                    """, logger: logger)
                for try await (post, viewer, item) in rows.decode((UUID, UUID, String).self) {
                    guard let mark = marks[post] else { continue }
                    if live.contains(viewer) { liveHomes?.deliver(item, toHomeOf: viewer) }
                    if toCache { cache.push(item, toHomeOf: CacheTag.id(viewer), since: mark) }
                }
            }
            for post in posts { cache.fanOutLag.record(createdAtMicroseconds: post.at) }
        } catch {
            logger.warning("home fan-out failed; the homes it would change are dropped", metadata: ["error": "\(String(reflecting: error))"])
            await cache.invalidateEverywhere(Set(pairViewers).map { .home(CacheTag.id($0)) })
        }
    }

    /// A batch's follows and unfollows into the followers' cached home windows, instead of dropping
    /// them (Mastodon's merge into / unmerge from home): the database says which posts' rows changed
    /// within each window and what they are now (`internal.home_merge`, migration 0035, built on the
    /// fan-out's rule that HomeFanoutTests holds to the policies). One query for the whole batch, not
    /// one per follow: the listener is serial, every write's fence waits behind its work, and at
    /// 1,000 users a follow came every ~40 ms. A viewer with several follows in the batch gets their
    /// changes together (all read in one statement, so they agree), merged into each window once.
    /// When the query cannot be asked, the windows are dropped.
    func merge(_ follows: [(viewer: UUID, profile: UUID?, entity: UUID?)], on connection: PostgresConnection) async {
        var pairs: [(follow: (viewer: UUID, profile: UUID?, entity: UUID?), window: ResponseCache.WindowBounds)] = []
        for follow in follows {
            for window in cache.homeWindows(of: CacheTag.id(follow.viewer)) { pairs.append((follow, window)) }
        }
        guard !pairs.isEmpty else { return }
        // Optional ids and cursors go as text ('' for none): one array per argument of home_merge.
        let viewers = pairs.map(\.follow.viewer)
        let profiles = pairs.map { $0.follow.profile.map(CacheTag.id) ?? "" }
        let entities = pairs.map { $0.follow.entity.map(CacheTag.id) ?? "" }
        let belows = pairs.map { $0.window.below ?? "" }
        let ids = pairs.map { $0.window.ids.filter { UUID(uuidString: $0) != nil }.joined(separator: ",") }
        let limits = pairs.map(\.window.limit)
        let count = pairs.count
        let logger = logger
        do {
            let changes = try await untilConnectionLost(connection) {
                var changes = [[String: String?]](repeating: [:], count: count)
                let rows = try await connection.query(
                    """
                    SELECT m.n, x.post, x.item
                    FROM unnest(\(viewers)::uuid[], \(profiles)::text[], \(entities)::text[], \(belows)::text[], \(ids)::text[], \(limits)::int[])
                         WITH ORDINALITY AS m(viewer, profile, entity, below, ids, lim, n)
                    CROSS JOIN LATERAL internal.home_merge(
                        m.viewer, NULLIF(m.profile, '')::uuid, NULLIF(m.entity, '')::uuid, NULLIF(m.below, ''),
                        CASE WHEN m.ids = '' THEN '{}'::uuid[] ELSE string_to_array(m.ids, ',')::uuid[] END, m.lim) x
                    """, logger: logger)
                for try await (n, post, item) in rows.decode((Int, UUID, String?).self) where (1...count).contains(n) {
                    changes[n - 1][CacheTag.id(post)] = item
                }
                return changes
            }
            // One merge per window: the changes of every follow of its viewer in the batch.
            var byWindow: [String: (window: ResponseCache.WindowBounds, changes: [String: String?])] = [:]
            for (index, pair) in pairs.enumerated() {
                byWindow[pair.window.key, default: (pair.window, [:])].changes.merge(changes[index]) { _, new in new }
            }
            for (window, changes) in byWindow.values { cache.merge(changes, into: window) }
        } catch {
            logger.warning("home merge after follows failed; their windows are dropped", metadata: ["error": "\(String(reflecting: error))"])
            cache.invalidate(Set(follows.map { CacheTag.viewer(CacheTag.id($0.viewer)) }))
        }
    }

    /// The profile worker: new posts onto their authors' shared first profile pages, the listener's
    /// batches' together, on a pooled connection; then their authors' holds go. Beside the home
    /// worker, not behind it: in one worker, these made the next homes' pushes wait (home reads
    /// whose wait ran out its 1 s bound went from 4 to 48–85 a run). When no connection can be
    /// had, the pages are dropped instead.
    func apply(profilePosts posts: [NewProfilePost]) async {
        let started = ContinuousClock.now
        defer {
            cache.listenerWork.spent(.profiles, since: started)
            cache.profileHolds.release(posts: posts.map { CacheTag.id($0.author) }, follows: [String]())
        }
        await beforeHomeWork?()
        do {
            try await client.withConnection { connection in await push(posts, on: connection) }
        } catch {
            logger.warning("profile worker had no connection; the profile pages it would change are dropped", metadata: ["error": "\(String(reflecting: error))"])
            await cache.invalidateEverywhere(posts.map { .profile(CacheTag.id($0.author)) })
        }
    }

    /// New posts onto their authors' shared first profile pages (`ResponseCache.push(_:toProfileOf:)`),
    /// in the order they were announced (their commit order: each goes in its keyset place). One
    /// query for the batch. A post gone meanwhile, or given targets, drops its author's pages; so
    /// does a query that fails.
    func push(_ posts: [NewProfilePost], on connection: PostgresConnection) async {
        let rows: [UUID: ProfilePost]
        do {
            rows = try await profileRows(posts, on: connection)
        } catch {
            logger.warning("new posts' profile rows could not be read; their authors' pages are dropped", metadata: ["error": "\(String(reflecting: error))"])
            rows = [:]
        }
        var dropped: [CacheTag] = []
        for post in posts {
            if let row = rows[post.id] {
                cache.listenerWork.countProfilePages(cache.push(row, toProfileOf: CacheTag.id(post.author)))
            } else {
                dropped.append(.profile(CacheTag.id(post.author)))
            }
        }
        if !dropped.isEmpty { await cache.invalidateEverywhere(dropped) }
    }

    /// New posts as their author's profile feed shows them, to anon and to the profile's followers
    /// (`internal.feed_rows`, the feed's own row function, with the reasons each view's rows carry;
    /// read as the owner, with nobody's hearts), with what a page's facts say of them. Which view
    /// sees which post is `ProfilePost`'s rule, the one the shared pages hold to the policies. Posts
    /// gone, or with targets (their names depend on who reads), are left out: their pages are dropped.
    func profileRows(_ posts: [NewProfilePost], on connection: PostgresConnection) async throws -> [UUID: ProfilePost] {
        let marks = Dictionary(posts.map { ($0.id, $0.mark) }, uniquingKeysWith: min)
        let ids = Array(marks.keys)
        let query: PostgresQuery = """
            SELECT p.id, p.author_id, p.visibility, p.author_private, internal.encode_cursor(p.created_at, p.id),
                (SELECT to_json(f)::text FROM internal.feed_rows(ARRAY[ROW(p.id, p.created_at, '{}'::text[])::internal.feed_candidate]) f),
                (SELECT to_json(f)::text FROM internal.feed_rows(ARRAY[ROW(p.id, p.created_at, ARRAY['following'])::internal.feed_candidate]) f)
            FROM public.posts p
            WHERE p.id = ANY(\(ids)) AND NOT EXISTS (SELECT 1 FROM public.post_targets t WHERE t.post_id = p.id)
            """
        let logger = logger
        let rows = try await untilConnectionLost(connection) { try await connection.query(query, logger: logger).collect() }
        var found: [UUID: ProfilePost] = [:]
        for row in rows {
            let (id, author, visibility, authorPrivate, cursor, anonymous, follower) = try row.decode((UUID, UUID, String, Bool, String, String, String).self)
            found[id] = ProfilePost(
                candidate: PageFacts.Candidate(post: id, author: author, visibility: visibility, authorPrivate: authorPrivate, cursor: cursor),
                anonymousRow: anonymous, followerRow: follower, mark: marks[id] ?? 0)
        }
        return found
    }

    /// The viewers with a cached (or computing) home who follow one of the authors or entities:
    /// those of `dropping` have their homes dropped; those of `holding` (new posts the home worker
    /// pushes) are answered by whom they follow, each post's audience. Every batch with a post asks
    /// this before its writers go, so what can be known here is not asked: which cached homes
    /// follow a new post's author is told by their viewers' kept relations (`ViewerRelationsStore`,
    /// kept in step with every follow announced before this batch), and the database is asked only
    /// about the viewers with none kept. Before, it read every follower of each author — thousands
    /// of rows for a post of the most-followed author, decoded and matched before its writer (and
    /// every writer of its batch) could go.
    /// The rest is one query, by the followed side's indexes alone (index-only scans): the cached
    /// homes are matched here, not sent along, since planning a statement that carries a thousand
    /// viewer ids cost more than the scan (measured: 4 ms against 1); a few unknown viewers are
    /// sent along (by the follower's unique index).
    func followers(
        dropping: (authors: Set<UUID>, entities: Set<UUID>), holding: (authors: Set<UUID>, entities: Set<UUID>),
        on connection: PostgresConnection?
    ) async throws -> (dropped: [UUID], ofProfile: [UUID: Set<UUID>], ofEntity: [UUID: Set<UUID>]) {
        var ofProfile: [UUID: Set<UUID>] = [:]
        // The authors whose followers are all read; and those only some of whose followers are asked about.
        var authors = dropping.authors.union(holding.authors), asked: (authors: [UUID], viewers: [UUID]) = ([], [])
        let entities = dropping.entities.union(holding.entities)
        let probing = holding.authors.subtracting(dropping.authors)
        if !probing.isEmpty {
            // A home listed twice (in flight and cached) is counted twice, and asked about once.
            let homes = cache.idList(ofKind: "home")
            var known = cache.relations.followers(of: probing, among: homes)
            let toldByRelations = homes.count - known.unknown.count
            if known.unknown.count > 1 { known.unknown = Array(Set(known.unknown)) }
            if known.unknown.count <= Self.mostViewersAsked {
                for (author, viewers) in known.following { ofProfile[author] = Set(viewers.compactMap(UUID.init(uuidString:))) }
                authors.subtract(probing)
                if !known.unknown.isEmpty { asked = (Array(probing), known.unknown.compactMap(UUID.init(uuidString:))) }
                cache.listenerWork.countAudience(fromRelations: toldByRelations, asked: known.unknown.count)
            }
        }
        guard !authors.isEmpty || !entities.isEmpty || !asked.viewers.isEmpty else { return ([], ofProfile, [:]) }
        let query: PostgresQuery = """
            SELECT follower_id, followed_profile_id, NULL::uuid FROM public.follows
            WHERE followed_profile_id = ANY(\(Array(authors)))
            UNION ALL
            SELECT follower_id, followed_profile_id, NULL::uuid FROM public.follows
            WHERE follower_id = ANY(\(asked.viewers)) AND followed_profile_id = ANY(\(asked.authors)) AND status = 'accepted'
            UNION ALL
            SELECT follower_id, NULL::uuid, followed_entity_id FROM public.follows
            WHERE followed_entity_id = ANY(\(Array(entities)))
            """
        let logger = logger
        let rows: [PostgresRow]
        if let connection {
            rows = try await untilConnectionLost(connection) { try await connection.query(query, logger: logger).collect() }
        } else {
            rows = try await client.guardedQuery(query, logger: logger)
        }
        let follows = try rows.map { try $0.decode((UUID, UUID?, UUID?).self) }
        // Of those, the ones with a home cached here (or, with Redis, in the shared level).
        let followers = Set(follows.map { CacheTag.id($0.0) })
        var homes = cache.ids(ofKind: "home", among: followers)
        if let shared = cache.shared { homes.formUnion(await shared.cachedHomes().intersection(followers)) }
        var dropped: Set<UUID> = [], ofEntity: [UUID: Set<UUID>] = [:]
        for (follower, profile, entity) in follows {
            guard homes.contains(CacheTag.id(follower)) else { continue }
            if let profile {
                if dropping.authors.contains(profile) { dropped.insert(follower) }
                if holding.authors.contains(profile) { ofProfile[profile, default: []].insert(follower) }
            }
            if let entity {
                if dropping.entities.contains(entity) { dropped.insert(follower) }
                if holding.entities.contains(entity) { ofEntity[entity, default: []].insert(follower) }
            }
        }
        return (Array(dropped), ofProfile, ofEntity)
    }
}
