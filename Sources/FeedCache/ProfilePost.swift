import Foundation
import NIOCore

/// A new post on its way onto its author's cached first profile pages — the anonymous page and the
/// page as the profile's followers see it (`CachedRPCs.sharedTags`, tag `profiletop`) — instead of
/// dropping them. Most of the profile reads that still reached the database at 1,000 users were the
/// first read of a popular profile after its owner posted; the rows below come from the database,
/// which the profile worker asks per batch (`CacheInvalidationListener.profileRows`).
public struct ProfilePost: Sendable {
    /// The post as a page's facts describe it, with its keyset cursor.
    public let candidate: PageFacts.Candidate
    /// Its profile-feed row (`to_json` of `feed_item`, no reasons, nobody's heart), as anon's page shows it.
    public let anonymousRow: String
    /// Its row with reasons `["following"]`, as the followers' page shows it.
    public let followerRow: String
    /// When its announcement arrived (`ResponseCache.mark()`): pages computed since read it already.
    public let mark: Int

    public init(candidate: PageFacts.Candidate, anonymousRow: String, followerRow: String, mark: Int) {
        self.candidate = candidate
        self.anonymousRow = anonymousRow
        self.followerRow = followerRow
        self.mark = mark
    }

    /// Whose first page this is.
    public enum View: String, Sendable {
        case anonymous = "anon"
        case followers
    }

    /// What putting the post on a page came to.
    public enum Change {
        /// The page with the post (and its facts, for the anonymous page) in place.
        case changed(CachedResponse)
        /// Nothing on the page changes: it holds the post already, or the post is below its range.
        case unchanged
        /// The page cannot take it (a row or candidate without a cursor, too many candidates): drop it.
        case refused
    }

    /// `page` (a first page of `limit` rows of the author's profile, as `view` sees it) with the post
    /// in its keyset place when that view sees it (posts_read: anon sees a public post of a public
    /// profile; an accepted follower with no block either way, anything but a private post — the rule
    /// `SharedPages.visible` holds to the policies), cut back to `limit`. The anonymous page's facts
    /// gain the post whether anon sees it or not (they list every post in the range, for the viewers
    /// who may share the page), and lose the posts that fell below the range when a row was cut off.
    /// The mentions are left: the post names nobody (a post with targets drops the pages instead), and
    /// a mention kept after its row left only makes sharing more careful.
    public func applied(to page: CachedResponse, view: View, limit: Int) -> Change {
        guard let slots = page.pageSlots, let key = candidate.cursor.flatMap(FeedPageSlots.cursorKey) else { return .refused }
        let id = CacheTag.id(candidate.post)
        if slots.rows.contains(where: { $0.id == id }) || page.sharing?.candidates.contains(where: { $0.post == candidate.post }) == true {
            return .unchanged
        }
        let seen = view == .anonymous ? candidate.visibleToAnonymous : candidate.visibleToFollowers
        var changed: (body: ByteBuffer, slots: FeedPageSlots)?
        if seen {
            switch slots.inserting(view == .anonymous ? anonymousRow : followerRow, limit: limit, onto: page.body) {
            case .changed(let body, let slots): changed = (body, slots)
            case .unchanged: break  // below a full page
            case .refused: return .refused
            }
        }
        var facts = page.sharing
        if view == .anonymous, let old = page.sharing {
            var keyed: [(key: FeedPageSlots.CursorKey, candidate: PageFacts.Candidate)] = [(key, candidate)]
            for other in old.candidates {
                guard let otherKey = other.cursor.flatMap(FeedPageSlots.cursorKey) else { return .refused }
                keyed.append((otherKey, other))
            }
            keyed.sort { $0.key > $1.key }
            // A full page covers the feed down to its last row; a short one, to the feed's end.
            let rows = changed?.slots.rows ?? slots.rows
            if rows.count >= limit {
                guard let last = rows.last?.cursor.flatMap(FeedPageSlots.cursorKey) else { return .refused }
                keyed.removeAll { $0.key < last }
            }
            guard keyed.count <= PageFacts.maximumCandidates else { return .refused }
            let candidates = keyed.map(\.candidate)
            if candidates != old.candidates { facts = PageFacts(candidates: candidates, mentions: old.mentions) }
        }
        guard changed != nil || facts != page.sharing else { return .unchanged }
        var response = changed.map { CachedResponse(body: $0.body, slots: $0.slots, of: page) } ?? page
        response.sharing = facts
        return .changed(response)
    }
}

extension PageFacts.Candidate {
    /// posts_read for an accepted follower of the author with no block either way.
    public var visibleToFollowers: Bool { visibility != "private" }
}
