import Foundation
import NIOCore
import Testing

@testable import FeedCache

@Suite("Live counters patched into stored pages")
struct LiveCountersTests {
    static let first = "6f1c2b1e-0000-4000-8000-000000000001"
    static let second = "6f1c2b1e-0000-4000-8000-000000000002"
    // As PostgreSQL writes a feed page: nested ids, a body with braces, quotes and commas, reasons.
    static let page = """
        [{"id":"\(first)","author":{"id":"aa","username":"x"},"body":"he said \\"{like_count: 9}\\", then }","visibility":"public",\
        "targets":[{"kind":"entity","id":"bb","name":"p"}],"reasons":["following"],"like_count":3,"cursor":"abc","liked_by_viewer":false}, \
        {"id":"\(second)","author":{"id":"cc"},"body":"[","like_count" : 12,"liked_by_viewer":true}]
        """

    @Test("the scanner finds each row's id and counter slots, and nothing inside strings or nested objects")
    func scan() throws {
        let body = ByteBuffer(string: Self.page)
        let slots = try #require(FeedPageSlots.scan(body))
        #expect(slots.rows.map(\.id) == [Self.first, Self.second])
        let bytes = Array(body.readableBytesView)
        func text(_ range: Range<Int>?) -> String { range.map { String(decoding: bytes[$0], as: UTF8.self) } ?? "-" }
        #expect(slots.rows.map { text($0.likeCount) } == ["3", "12"])
        #expect(slots.rows.map { text($0.likedByViewer) } == ["false", "true"])
        // Not feed rows: no slots (and so never patched).
        #expect(FeedPageSlots.scan(ByteBuffer(string: #"[{"id":"x","name":"y"}]"#)) == nil)
        #expect(FeedPageSlots.scan(ByteBuffer(string: "[]")) == nil)
        #expect(FeedPageSlots.scan(ByteBuffer(string: #"id,like_count\nx,1"#)) == nil)
        // A single-object answer (Accept: application/vnd.pgrst.object+json) is one row.
        #expect(FeedPageSlots.scan(ByteBuffer(string: #"{"id":"x","like_count":1}"#))?.rows.map(\.id) == ["x"])
    }

    @Test("patching splices changed values only, and the result is the same JSON with them")
    func patch() throws {
        var body = ByteBuffer(string: "  ")
        body.moveReaderIndex(forwardBy: 2)  // as a page read back from Redis: the reader index is not 0
        body.writeString(Self.page)
        let slots = try #require(FeedPageSlots.scan(body))
        #expect(slots.patched(body, likeCount: { $0 == Self.first ? 3 : nil }, liked: { _ in nil }) == nil)
        let patched = try #require(slots.patched(body, likeCount: { $0 == Self.first ? 1_004 : 11 }, liked: { $0 == Self.first ? true : nil }))
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(patched.readableBytesView)) as? [[String: Any]])
        let original = try #require(try JSONSerialization.jsonObject(with: Data(Self.page.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["like_count"] as? Int } == [1_004, 11])
        #expect(rows.map { $0["liked_by_viewer"] as? Bool } == [true, true])
        #expect(rows.map { $0["body"] as? String } == original.map { $0["body"] as? String })
        #expect(rows.map { ($0["author"] as? [String: Any])?["id"] as? String } == ["aa", "cc"])
    }

    @Test("only values recorded after a page was computed apply to it, and they are forgotten after the retention")
    func newerThanThePage() async throws {
        let clock = Controls()
        let counters = LiveCounters(retention: .seconds(10), clock: { clock.now() })
        let before = clock.now()
        clock.advance(.seconds(1))
        counters.recordLike(post: Self.first, count: 5, viewer: "v", liked: true)
        let after = clock.now()
        clock.advance(.seconds(1))
        let forOldPage = counters.newer(than: before, viewer: "v")
        #expect(forOldPage.likeCount(Self.first) == 5)
        #expect(forOldPage.liked(Self.first) == true)
        #expect(counters.newer(than: before, viewer: "w").liked(Self.first) == nil)
        #expect(counters.newer(than: before, viewer: nil).liked(Self.first) == nil)
        #expect(counters.newer(than: after + .milliseconds(1), viewer: "v").likeCount(Self.first) == nil)
        clock.advance(.seconds(20))
        counters.prune()
        #expect(counters.isEmpty)
    }
}
