import Foundation

/// What the database says about an anonymous feed page, beyond its rows: every post of the feed in
/// the range the page covers (the feed takes the first `limit` posts below the cursor that the
/// caller may see), with who wrote it and how visible it is, and the profiles its rows mention.
/// A viewer's page is the anonymous one exactly when each of those posts and mentions is as
/// visible to the viewer as to `anon` (`SharedPages.viewerSeesAnonymousPage`).
public struct PageFacts: Sendable, Equatable {
    public struct Candidate: Sendable, Equatable {
        public let post: UUID
        public let author: UUID
        public let visibility: String
        public let authorPrivate: Bool
        /// Its keyset cursor (time, id): where a new post goes among the range's posts when it is
        /// put on the page instead of dropping it (`ProfilePush`). Nil: the page cannot take one.
        public let cursor: String?

        public init(post: UUID, author: UUID, visibility: String, authorPrivate: Bool, cursor: String? = nil) {
            self.post = post
            self.author = author
            self.visibility = visibility
            self.authorPrivate = authorPrivate
            self.cursor = cursor
        }

        /// posts_read for `anon`.
        public var visibleToAnonymous: Bool { visibility == "public" && !authorPrivate }
    }

    public struct Mention: Sendable, Equatable {
        public let profile: UUID
        public let isPrivate: Bool
        /// On a page computed for one viewer and shared with others (a profile's page as its
        /// followers see it): whether that viewer's page shows the mention.
        public var shown: Bool?

        public init(profile: UUID, isPrivate: Bool, shown: Bool? = nil) {
            self.profile = profile
            self.isPrivate = isPrivate
            self.shown = shown
        }
    }

    public let candidates: [Candidate]
    public let mentions: [Mention]

    /// The most posts a page's facts may describe: past it (an empty page of a busy private
    /// profile, say) the page is served to anon only.
    public static let maximumCandidates = 500

    public init(candidates: [Candidate], mentions: [Mention]) {
        self.candidates = candidates
        self.mentions = mentions
    }
}
