import Database
import FeedCache
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Profile, entity and nearby pages shared between viewers where Row Level Security gives them the same rows.
///
/// A profile, entity or nearby feed answers the first `limit` posts below the cursor that the caller
/// may see (its candidate query runs under the caller's policies). So a signed-in viewer's page is, row for
/// row, the anonymous page when every post in the range that page covers is exactly as visible to
/// the viewer as to `anon`, when each profile the rows mention is too, and when nothing in the row depends on the
/// viewer (a profile feed's `reasons` say `self` or `following`; hearts are filled in per viewer).
/// Then the one anonymous page (computed under `anon`'s RLS, cached once for everybody) is served;
/// otherwise the viewer's own page is computed as before. Everything the decision reads comes from
/// the database: the page under `anon`'s RLS; the viewer's relations under the viewer's own role
/// (`internal.viewer_block_partners()` and the other helpers the policies call); and, read with the
/// page, the posts in its range and the profiles it mentions (`PageFacts`). `SharedPagesTests`
/// holds the decision to the policies on random worlds: every viewer, every profile, entity and
/// circle, the shared answer equal to the viewer's own.
///
/// A profile's followers cannot share its anonymous page (their rows say `following` and hold its
/// followers-only posts), but they share the page as its followers see it: computed for one
/// follower, served to another when each mention on it would be shown to both alike
/// (`viewerSeesFollowerPage`).
public final class SharedPages: Sendable {
    /// The feeds whose pages may be shared.
    enum Feed: String, Sendable {
        case profile = "feed_fusion_profile"
        case entity = "feed_fusion_entity"
        case nearby = "feed_fusion_nearby"

        /// The arguments that say what the feed is about (the rest are the limit and the cursor).
        var subjectArguments: Set<String> {
            switch self {
            case .profile: ["p_profile_id"]
            case .entity: ["p_entity_id"]
            case .nearby: ["p_lat", "p_lng", "p_radius_m"]
            }
        }
    }

    /// What a shared feed is about: a profile or entity, or a circle on the map.
    enum Subject: Sendable, Equatable {
        case id(UUID)
        case place(latitude: Double, longitude: Double, radius: Int)
    }

    let client: PostgresClient
    let owner: PostgresClient
    let logger: Logger
    /// Viewers whose relations are being read ahead (at most one read per viewer at a time).
    private let prefetching = Mutex<Set<UUID>>([])

    public init(client: PostgresClient, owner: PostgresClient, logger: Logger) {
        self.client = client
        self.owner = owner
        self.logger = logger
    }

    /// Whether `viewer`, with `relations`, sees exactly the anonymous page described by `facts`
    /// (whose rows are `rows`) of `feed` about `subject`.
    static func viewerSeesAnonymousPage(
        feed: Feed, subject: Subject, viewer: UUID, relations: ViewerRelations, facts: PageFacts, rows: Set<UUID>
    ) -> Bool {
        guard viewerMayShare(feed: feed, subject: subject, viewer: viewer, relations: relations) else { return false }
        // The page must come from these facts: every row among the posts they describe.
        guard rows.isSubset(of: Set(facts.candidates.map(\.post))) else { return false }
        for candidate in facts.candidates where visible(candidate, to: viewer, relations) != candidate.visibleToAnonymous {
            return false
        }
        for mention in facts.mentions {
            if mention.isPrivate {
                // Hidden from anon; shown to the profile itself and to its followers.
                if mention.profile == viewer || relations.followed.contains(mention.profile) { return false }
            } else if relations.blockedBy.contains(mention.profile) {
                // Shown to anon; hidden from those it blocked.
                return false
            }
        }
        return true
    }

    /// What can be known before the page is: an admin sees more than anon, and a profile feed's rows
    /// say `self` or `following` to the profile and its followers.
    static func viewerMayShare(feed: Feed, subject: Subject, viewer: UUID, relations: ViewerRelations) -> Bool {
        guard !relations.admin else { return false }
        if feed == .profile, case .id(let profile) = subject, viewer == profile || relations.followed.contains(profile) { return false }
        return true
    }

    /// Whether `viewer` may be served the page of `profile` as its followers see it: a follower
    /// (accepted), not the profile itself, not an admin, no block either way. Every such viewer gets
    /// the same rows (the profile's posts that are not private) with the same reasons (`following`);
    /// only the mentions shown may differ, which the page's facts settle.
    static func viewerMayShareFollowerPage(feed: Feed, subject: Subject, viewer: UUID, relations: ViewerRelations) -> Bool {
        guard feed == .profile, case .id(let profile) = subject else { return false }
        return profile != viewer && !relations.admin && relations.followed.contains(profile) && !relations.blockPartners.contains(profile)
    }

    /// Whether a follower's page described by `facts` (computed for another follower) is exactly the
    /// one `viewer` would get: each mention shown to them as to the follower it was computed for.
    static func viewerSeesFollowerPage(feed: Feed, subject: Subject, viewer: UUID, relations: ViewerRelations, facts: PageFacts) -> Bool {
        guard viewerMayShareFollowerPage(feed: feed, subject: subject, viewer: viewer, relations: relations) else { return false }
        return facts.mentions.allSatisfy { $0.shown == mentionShown($0, to: viewer, relations) }
    }

    /// The posts `viewer` sees on the page that starts where the page described by `facts` starts:
    /// the first `limit` posts of its range the viewer may see (posts_read, `visible`), in the feed's
    /// order. Nil when the range does not settle it: fewer than `limit` there, and the range ends
    /// above the feed's end (`rangeReachesEnd`: the anonymous page was short, so its facts run to the end).
    static func viewerRows(facts: PageFacts, limit: Int, rangeReachesEnd: Bool, viewer: UUID, relations: ViewerRelations) -> [UUID]? {
        let rows = Array(facts.candidates.lazy.filter { visible($0, to: viewer, relations) }.prefix(limit).map(\.post))
        return rows.count == limit || rangeReachesEnd ? rows : nil
    }

    /// Whether a page computed for another viewer who sees the same posts there (`rows`, from
    /// `viewerRows`) is exactly `viewer`'s page: its rows are those posts, in order, and each
    /// mention on it (`facts`, kept with which were shown) would be shown to `viewer` alike.
    static func viewerSeesSameView(viewer: UUID, relations: ViewerRelations, facts: PageFacts, rows: [UUID], pageRows: [UUID]) -> Bool {
        guard !relations.admin, pageRows == rows else { return false }
        return facts.mentions.allSatisfy { $0.shown == mentionShown($0, to: viewer, relations) }
    }

    /// post_targets_read for a mention, for a signed-in viewer who is not an admin: shown to the
    /// mentioned profile, and otherwise while that profile is visible to the viewer (profiles_read).
    static func mentionShown(_ mention: PageFacts.Mention, to viewer: UUID, _ relations: ViewerRelations) -> Bool {
        mention.profile == viewer
            || (!relations.blockedBy.contains(mention.profile) && (!mention.isPrivate || relations.followed.contains(mention.profile)))
    }

    /// posts_read for a signed-in viewer who is not an admin (migration 0015).
    static func visible(_ post: PageFacts.Candidate, to viewer: UUID, _ relations: ViewerRelations) -> Bool {
        if post.author == viewer { return true }
        if relations.blockPartners.contains(post.author) { return false }
        return post.visibleToAnonymous || (post.visibility != "private" && relations.followed.contains(post.author))
    }

    /// Reads the viewer's relations ahead, off the request path, when they are not kept: a viewer's
    /// first request (usually their home) makes the relations ready for the profile and entity
    /// pages they open next, which are then served without a database round trip.
    func prefetchRelations(of caller: Caller, in store: ViewerRelationsStore) {
        guard let viewer = caller.userID, store.cached(CacheTag.id(viewer)) == nil,
            prefetching.withLock({ $0.insert(viewer).inserted })
        else { return }
        Task {
            defer { _ = prefetching.withLock { $0.remove(viewer) } }
            do {
                _ = try await relations(of: caller, in: store)
            } catch {
                logger.debug("relations could not be read ahead", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }

    /// The viewer's relations, from memory or (once per viewer and TTL) from the database under the
    /// viewer's own role. The second value says whether the database was asked.
    func relations(of caller: Caller, in store: ViewerRelationsStore) async throws -> (ViewerRelations, queried: Bool)? {
        guard let viewer = caller.userID else { return nil }
        let key = CacheTag.id(viewer)
        if let relations = store.cached(key) { return (relations, false) }
        let started = ContinuousClock.now
        let loaded: ViewerRelations? = try await DatabaseFault.retryingRead(logger: logger) { [client, logger] in
            try await client.withCaller(caller, readOnly: true, logger: logger) { [logger] connection -> ViewerRelations? in
                let rows = try await connection.query(
                    """
                    SELECT internal.viewer_block_partners(), internal.viewer_blocked_by(), internal.viewer_followed_profiles(),
                           public.is_admin(), ARRAY(SELECT l.post_id FROM public.post_likes l WHERE l.profile_id = auth.uid())
                    """, logger: logger)
                for try await (partners, blockedBy, followed, admin, liked) in rows.decode(([UUID], [UUID], [UUID], Bool, [UUID]).self) {
                    return ViewerRelations(
                        blockPartners: Set(partners), blockedBy: Set(blockedBy), followed: Set(followed), liked: Set(liked), admin: admin,
                        loadedAt: started)
                }
                return nil
            }
        }
        guard let loaded else { return nil }
        store.store(key, loaded)
        return (loaded, true)
    }

    /// The facts of a page just computed: every post of the feed in the range the page covers —
    /// below the cursor and, when the page is full, down to its last row; when it is not, to the
    /// feed's end — read past RLS (the feed takes the first `limit` posts *the caller may see*, so
    /// a viewer seeing one more post in that range gets another page), and the profiles its rows
    /// mention, with their privacy. Nil when the range holds too many posts to describe.
    func facts(feed: Feed, subject: Subject, cursor: String?, lowest: String?, rows: [UUID]) async throws -> PageFacts? {
        let cap = PageFacts.maximumCandidates + 1
        let window: PostgresQuery
        switch (feed, subject) {
        case (.profile, .id(let subject)):
            window = """
            SELECT p.id, p.author_id, p.visibility, p.author_private, internal.encode_cursor(p.created_at, p.id)
            FROM public.posts p, internal.decode_cursor(\(cursor)) c, internal.decode_cursor(\(lowest)) l
            WHERE p.author_id = \(subject) AND (p.created_at, p.id) < (c.created_at, c.id)
              AND (\(lowest)::text IS NULL OR (p.created_at, p.id) >= (l.created_at, l.id))
            ORDER BY p.created_at DESC, p.id DESC LIMIT \(cap)
            """
        case (.entity, .id(let subject)):
            window = """
            SELECT p.id, p.author_id, p.visibility, p.author_private, internal.encode_cursor(p.created_at, p.id)
            FROM public.post_targets pt JOIN public.posts p ON p.id = pt.post_id,
                 internal.decode_cursor(\(cursor)) c, internal.decode_cursor(\(lowest)) l
            WHERE pt.target_entity_id = \(subject) AND (pt.post_created_at, pt.post_id) < (c.created_at, c.id)
              AND (\(lowest)::text IS NULL OR (pt.post_created_at, pt.post_id) >= (l.created_at, l.id))
            ORDER BY pt.post_created_at DESC, pt.post_id DESC LIMIT \(cap)
            """
        case (.nearby, .place(let latitude, let longitude, let radius)):
            // feed_fusion_nearby's two sources: located posts in the circle (newest first from the
            // GiST index, as the feed reads them) and posts targeting a place in it. Each is cut at
            // `cap`; a source that reaches it inside the range makes the whole too many to describe.
            window = """
            WITH here AS (
                SELECT extensions.st_setsrid(extensions.st_makepoint(\(longitude), \(latitude)), 4326)::extensions.geography AS point
            ), candidate AS (
                SELECT x.id FROM here, internal.decode_cursor(\(cursor)) c, internal.decode_cursor(\(lowest)) l,
                     internal.located_post_candidates(here.point, \(radius)::int, c.created_at, c.id, \(cap)::int) x
                WHERE \(lowest)::text IS NULL OR (x.created_at, x.id) >= (l.created_at, l.id)
                UNION
                SELECT t.post_id FROM here, internal.decode_cursor(\(cursor)) c, internal.decode_cursor(\(lowest)) l, public.entities e
                CROSS JOIN LATERAL (
                    SELECT pt.post_id FROM public.post_targets pt
                    WHERE pt.target_entity_id = e.id AND (pt.post_created_at, pt.post_id) < (c.created_at, c.id)
                      AND (\(lowest)::text IS NULL OR (pt.post_created_at, pt.post_id) >= (l.created_at, l.id))
                    ORDER BY pt.post_created_at DESC, pt.post_id DESC LIMIT \(cap)) t
                WHERE e.location IS NOT NULL AND extensions.st_dwithin(e.location, here.point, \(radius))
            )
            SELECT p.id, p.author_id, p.visibility, p.author_private, internal.encode_cursor(p.created_at, p.id)
            FROM public.posts p JOIN candidate USING (id)
            ORDER BY p.created_at DESC, p.id DESC LIMIT \(cap)
            """
        default:
            return nil  // a subject of another feed's kind: nothing to describe, not shared
        }
        var candidates: [PageFacts.Candidate] = []
        for row in try await owner.guardedQuery(window, logger: logger) {
            let (post, author, visibility, authorPrivate, cursor) = try row.decode((UUID, UUID, String, Bool, String).self)
            candidates.append(PageFacts.Candidate(post: post, author: author, visibility: visibility, authorPrivate: authorPrivate, cursor: cursor))
        }
        guard candidates.count <= PageFacts.maximumCandidates else { return nil }
        return PageFacts(candidates: candidates, mentions: try await mentions(of: rows))
    }

    /// The profiles the posts `rows` mention, with their privacy, read past RLS.
    func mentions(of rows: [UUID]) async throws -> [PageFacts.Mention] {
        var mentions: [PageFacts.Mention] = []
        if !rows.isEmpty {
            let query: PostgresQuery = """
                SELECT t.target_profile_id, p.is_private FROM public.post_targets t
                JOIN public.profiles p ON p.id = t.target_profile_id
                WHERE t.post_id = ANY(\(rows))
                """
            for row in try await owner.guardedQuery(query, logger: logger) {
                let (profile, isPrivate) = try row.decode((UUID, Bool).self)
                mentions.append(PageFacts.Mention(profile: profile, isPrivate: isPrivate))
            }
        }
        return mentions
    }
}
