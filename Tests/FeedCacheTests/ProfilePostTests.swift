import Foundation
import NIOCore
import Testing

@testable import FeedCache

/// A new post put on its author's shared first profile pages (`ProfilePost`, `ResponseCache.push(_:toProfileOf:)`):
/// the rows each view sees, in their keyset place, cut to the limit, and the anonymous page's facts
/// — every post in the range it covers — kept exactly that range. `SharedPagesTests` holds the
/// result to the policies through the API; these pin the page arithmetic.
@Suite("New posts on their author's shared profile pages")
struct ProfilePostTests {
    static let author = UUID()

    static func id(_ index: Int) -> UUID { UUID(uuidString: String(format: "6f1c2b1e-0000-4000-8000-%012d", index))! }

    static func cursor(_ index: Int) -> String {
        Data("\(1_000_000 + index)~\(id(index).uuidString.lowercased())".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func candidate(_ index: Int, _ visibility: String = "public", cursor: Bool = true) -> PageFacts.Candidate {
        PageFacts.Candidate(post: id(index), author: author, visibility: visibility, authorPrivate: false, cursor: cursor ? Self.cursor(index) : nil)
    }

    /// A page of these rows (newest first), with facts listing `candidates` when given.
    static func page(_ rows: [Int], candidates: [PageFacts.Candidate]? = nil) -> CachedResponse {
        var response = CachedResponse(
            status: 200, contentType: "application/json", contentRange: nil,
            body: ByteBuffer(string: "[" + rows.map { FeedPageSlotsTests.row($0, micros: 1_000_000 + Int64($0)) }.joined(separator: ",") + "]"))
        response.sharing = candidates.map { PageFacts(candidates: $0, mentions: [PageFacts.Mention(profile: UUID(), isPrivate: true)]) }
        return response
    }

    static func post(_ index: Int, _ visibility: String) -> ProfilePost {
        ProfilePost(
            candidate: candidate(index, visibility), anonymousRow: FeedPageSlotsTests.row(index, micros: 1_000_000 + Int64(index)),
            followerRow: FeedPageSlotsTests.row(index, micros: 1_000_000 + Int64(index)), mark: 1)
    }

    static func rows(_ response: CachedResponse) -> [UUID] { response.rowIDs }

    /// A full anonymous page (40, 30, 20; a followers-only 25 among them) and what each new post does to it.
    @Test("the anonymous page: a post anon sees goes on top and the range shrinks to the new last row; one it does not see joins the facts only")
    func anonymousPage() throws {
        let page = Self.page([40, 30, 20], candidates: [Self.candidate(40), Self.candidate(30), Self.candidate(25, "followers"), Self.candidate(20)])
        guard case .changed(let pushed) = Self.post(50, "public").applied(to: page, view: .anonymous, limit: 3) else {
            Issue.record("a public post did not change the page")
            return
        }
        #expect(Self.rows(pushed) == [50, 40, 30].map(Self.id))
        #expect(pushed.sharing?.candidates.map(\.post) == [50, 40, 30].map(Self.id))
        #expect(pushed.sharing?.mentions == page.sharing?.mentions)
        #expect(pushed.slots == FeedPageSlots.scan(pushed.body))

        guard case .changed(let hidden) = Self.post(50, "followers").applied(to: page, view: .anonymous, limit: 3) else {
            Issue.record("a followers-only post did not join the facts")
            return
        }
        #expect(Self.rows(hidden) == [40, 30, 20].map(Self.id))
        #expect(hidden.body == page.body && hidden.etag == page.etag)
        #expect(hidden.sharing?.candidates.map(\.post) == [50, 40, 30, 25, 20].map(Self.id))

        // Older than the full page's last row (its transaction began long before): outside the range.
        #expect(Self.isUnchanged(Self.post(15, "public").applied(to: page, view: .anonymous, limit: 3)))
        // Between rows (a transaction that began before others committed): in its place.
        guard case .changed(let middle) = Self.post(35, "public").applied(to: page, view: .anonymous, limit: 3) else {
            Issue.record("a post between rows did not change the page")
            return
        }
        #expect(Self.rows(middle) == [40, 35, 30].map(Self.id))
        #expect(middle.sharing?.candidates.map(\.post) == [40, 35, 30].map(Self.id))
        // Already there (the page was computed after the post).
        #expect(Self.isUnchanged(Self.post(40, "public").applied(to: page, view: .anonymous, limit: 3)))
        #expect(Self.isUnchanged(Self.post(25, "followers").applied(to: page, view: .anonymous, limit: 3)))
    }

    @Test("a short anonymous page grows; filled, its range ends at its last row")
    func shortPage() throws {
        let page = Self.page([40, 30], candidates: [Self.candidate(40), Self.candidate(30), Self.candidate(25, "private")])
        guard case .changed(let pushed) = Self.post(50, "public").applied(to: page, view: .anonymous, limit: 3) else {
            Issue.record("a public post did not change the page")
            return
        }
        #expect(Self.rows(pushed) == [50, 40, 30].map(Self.id))
        #expect(pushed.sharing?.candidates.map(\.post) == [50, 40, 30].map(Self.id))
        #expect(pushed.contentRange == "0-2/*")
        // Still short: the range still runs to the feed's end.
        guard case .changed(let hidden) = Self.post(50, "private").applied(to: page, view: .anonymous, limit: 3) else {
            Issue.record("a private post did not join the facts")
            return
        }
        #expect(hidden.sharing?.candidates.map(\.post) == [50, 40, 30, 25].map(Self.id))
    }

    @Test("the followers' page takes what followers see, and nothing private")
    func followersPage() throws {
        let page = Self.page([40, 30, 20], candidates: [])
        #expect(Self.isUnchanged(Self.post(50, "private").applied(to: page, view: .followers, limit: 3)))
        guard case .changed(let pushed) = Self.post(50, "followers").applied(to: page, view: .followers, limit: 3) else {
            Issue.record("a followers-only post did not reach the followers' page")
            return
        }
        #expect(Self.rows(pushed) == [50, 40, 30].map(Self.id))
        #expect(pushed.sharing == page.sharing)
    }

    @Test("a page that cannot say where the post goes is dropped")
    func refused() {
        let page = Self.page([40, 30, 20], candidates: [Self.candidate(40), Self.candidate(30, cursor: false), Self.candidate(20)])
        guard case .refused = Self.post(50, "public").applied(to: page, view: .anonymous, limit: 3) else {
            Issue.record("a candidate without a cursor was not refused")
            return
        }
    }

    static func isUnchanged(_ change: ProfilePost.Change) -> Bool {
        if case .unchanged = change { return true }
        return false
    }

    @Test("the cache: shared first pages get the post, the author's other pages go, pages computed after the post stay")
    func cachePush() async throws {
        let cache = ResponseCache(ResponseCache.Configuration())
        let profile = CacheTag.id(Self.author)
        func store(_ key: String, _ tags: [CacheTag], _ rows: [Int]) async throws {
            _ = try await cache.fetch(key, tags: tags) { Self.page(rows, candidates: rows.map { Self.candidate($0) }) }
        }
        try await store("anon", [.viewer("anon"), .profile(profile), CacheTag(ResponseCache.profileTopKind, "\(profile)/anon/3")], [40, 30, 20])
        try await store("followers", [.viewer("followers"), .profile(profile), CacheTag(ResponseCache.profileTopKind, "\(profile)/followers/3")], [40, 30])
        try await store("cursor page", [.viewer("anon"), .profile(profile)], [20, 10])
        try await store("a viewer's own", [.viewer("someone"), .profile(profile)], [40, 30, 20])
        let mark = cache.mark()
        try await store("after", [.viewer("anon"), .profile(profile), CacheTag(ResponseCache.profileTopKind, "\(profile)/anon/2")], [50, 40])
        let post = ProfilePost(
            candidate: Self.candidate(50), anonymousRow: FeedPageSlotsTests.row(50, micros: 1_000_050),
            followerRow: FeedPageSlotsTests.row(50, micros: 1_000_050), mark: mark)
        let outcome = cache.push(post, toProfileOf: profile)
        #expect(outcome.pushed == 2 && outcome.dropped == 2)
        func read(_ key: String) async throws -> (rows: [UUID], outcome: ResponseCache.Outcome) {
            let answer = try await cache.fetch(key, tags: []) { Self.page([]) }
            return (answer.response.rowIDs, answer.outcome)
        }
        #expect(try await read("anon") == ([50, 40, 30].map(Self.id), .hit))
        #expect(try await read("followers") == ([50, 40, 30].map(Self.id), .hit))
        #expect(try await read("after") == ([50, 40].map(Self.id), .hit))
        #expect(try await read("cursor page").outcome == .miss)
        #expect(try await read("a viewer's own").outcome == .miss)
    }
}
