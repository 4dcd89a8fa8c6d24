import Database
import FeedCache
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Profile pages shared between viewers where Row Level Security gives them the same rows.
///
/// A signed-in viewer's page of a profile is, row for row, the anonymous page of that profile
/// unless the viewer is the profile, an admin, follows it, is in a block with it, or stands in one
/// of those relations to a profile mentioned on the page. Then the one anonymous page (computed
/// under the `anon` role, cached once for everybody) is served with the viewer's own hearts filled
/// in; otherwise the viewer's own page is computed as before. Everything the decision reads comes
/// from the database: the page under `anon`'s RLS, the viewer's relations under the viewer's role
/// (`internal.viewer_block_partners()` and the other helpers the policies call), and the page's
/// mentioned profiles with their privacy. `SharedPagesTests` holds the decision to the policies on
/// random worlds: every viewer, every profile, the shared answer equal to the viewer's own.
public final class SharedPages: Sendable {
    /// A profile mentioned on a page, and whether it is private (then `anon` does not see the mention).
    struct Mention: Sendable, Hashable {
        let profile: UUID
        let isPrivate: Bool
    }

    let client: PostgresClient
    let owner: PostgresClient
    let logger: Logger
    /// The mentions of each stored page, by its strong validator (a page's bytes never change in place).
    private let mentions = Mutex<[String: [Mention]]>([:])

    public init(client: PostgresClient, owner: PostgresClient, logger: Logger) {
        self.client = client
        self.owner = owner
        self.logger = logger
    }

    /// Whether `viewer`, with `relations`, sees exactly the anonymous page of `profile` that mentions `mentions`.
    static func viewerSeesAnonymousPage(profile: UUID, viewer: UUID, relations: ViewerRelations, mentions: [Mention]) -> Bool {
        guard viewer != profile, !relations.admin, !relations.blockPartners.contains(profile), !relations.followed.contains(profile)
        else { return false }
        for mention in mentions {
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

    /// The viewer's relations, from memory or (once per viewer and TTL) from the database under the
    /// viewer's own role. The second value says whether the database was asked.
    func relations(of caller: Caller, in store: ViewerRelationsStore) async throws -> (ViewerRelations, queried: Bool)? {
        guard let viewer = caller.userID else { return nil }
        let key = CacheTag.id(viewer)
        if let relations = store.cached(key) { return (relations, false) }
        let started = ContinuousClock.now
        let loaded: ViewerRelations? = try await client.withCaller(caller, readOnly: true, logger: logger) { connection -> ViewerRelations? in
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
        guard let loaded else { return nil }
        store.store(key, loaded)
        return (loaded, true)
    }

    /// The profiles the page's rows mention, with their privacy (read past RLS: a mention `anon`
    /// does not see is exactly what must be known). The second value says whether the database was asked.
    func mentions(of response: CachedResponse) async throws -> ([Mention], queried: Bool) {
        if let known = mentions.withLock({ $0[response.etag] }) { return (known, false) }
        let posts = (response.slots?.rows ?? []).compactMap { UUID(uuidString: $0.id) }
        var found: [Mention] = []
        if !posts.isEmpty {
            let rows = try await owner.query(
                """
                SELECT t.target_profile_id, p.is_private FROM public.post_targets t
                JOIN public.profiles p ON p.id = t.target_profile_id
                WHERE t.post_id = ANY(\(posts))
                """, logger: logger)
            for try await (profile, isPrivate) in rows.decode((UUID, Bool).self) { found.append(Mention(profile: profile, isPrivate: isPrivate)) }
        }
        mentions.withLock { known in
            if known.count > 10_000 { known.removeAll() }
            known[response.etag] = found
        }
        return (found, !posts.isEmpty)
    }
}
