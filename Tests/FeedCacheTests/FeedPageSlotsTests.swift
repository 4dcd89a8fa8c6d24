import Foundation
import NIOCore
import Testing

@testable import FeedCache

/// Pages made from other pages — a new row pushed on top, a page cut from a window at a cursor —
/// carry slots computed by moving the old ones, not by rescanning: they must be exactly what a
/// scan of the new bytes finds, or a counter would be spliced into the wrong place.
@Suite("Feed page slots of pushed and cut pages")
struct FeedPageSlotsTests {
    /// A row as PostgreSQL writes one: a cursor of "<micros>~<id>" in base64url, nested objects,
    /// a body with braces, quotes and commas.
    static func row(_ index: Int, micros: Int64) -> String {
        let id = String(format: "6f1c2b1e-0000-4000-8000-%012d", index)
        let cursor = Data("\(micros)~\(id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return """
            {"id":"\(id)","author":{"id":"aa","username":"u\(index)"},"body":"row \(index): {\\"like_count\\": 1}, [","reasons":["following"],\
            "like_count":\(index % 7),"cursor":"\(cursor)","liked_by_viewer":\(index % 2 == 0)}
            """
    }

    static func page(_ indexes: some Sequence<Int>) -> ByteBuffer {
        ByteBuffer(string: "[" + indexes.map { row($0, micros: 1_000_000 + Int64($0)) }.joined(separator: ", \n ") + "]")
    }

    /// The ids of a page's rows, in order.
    static func ids(_ body: ByteBuffer) -> [String] {
        ((try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    }

    /// The cursor decoding the pushes order rows by, as Foundation decodes it (the reference).
    static func referenceKey(_ cursor: String) -> FeedPageSlots.CursorKey? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else { return nil }
        let parts = text.split(separator: "~", maxSplits: 1)
        guard parts.count == 2, let micros = Int64(parts[0]) else { return nil }
        return FeedPageSlots.CursorKey(microseconds: micros, id: parts[1].lowercased())
    }

    @Test("a scan finds each row's id and cursor as Foundation parses them, whatever nests inside the rows")
    func scanAgreesWithFoundation() throws {
        let alphabet = Array("ab\"\\{}[],: \n\té✓🙂idcursorlike_count")
        func text() -> String { String((0..<Int.random(in: 0...12)).map { _ in alphabet.randomElement()! }) }
        // Ids and cursors as the server writes them: no escapes (the scan returns them as written).
        func plain() -> String { String(text().filter { !"\"\\\n\t".contains($0) }) }
        func nested(_ depth: Int) -> Any {
            switch Int.random(in: 0..<(depth > 2 ? 2 : 4)) {
            case 0: return text()
            case 1: return Int.random(in: -5...500)
            case 2: return ["id": plain(), "cursor": plain(), "like_count": 3, "x": nested(depth + 1)]
            default: return (0..<Int.random(in: 0...3)).map { _ in nested(depth + 1) }
            }
        }
        for _ in 0..<300 {
            var rows: [[String: Any]] = []
            for _ in 0..<Int.random(in: 1...6) {
                var row: [String: Any] = ["id": plain(), "author": nested(0), "targets": nested(0), "body": text(), "like_count": Int.random(in: 0...9)]
                // A cursor is a string, missing, or not a string (its nested strings are not it).
                if Bool.random() {
                    row["cursor"] = plain()
                } else if Bool.random() {
                    row["cursor"] = Bool.random() ? Int.random(in: 0...9) : ["cursor": plain(), "x": nested(1)]
                }
                rows.append(row)
            }
            let page = try JSONSerialization.data(withJSONObject: rows)
            let scanned = try #require(FeedPageSlots.scan(ByteBuffer(bytes: page)), "\(String(decoding: page, as: UTF8.self))")
            #expect(scanned.rows.map(\.id) == rows.map { $0["id"] as! String }, "\(String(decoding: page, as: UTF8.self))")
            #expect(scanned.rows.map(\.cursor) == rows.map { $0["cursor"] as? String }, "\(String(decoding: page, as: UTF8.self))")
            // One object on its own (create_post's answer).
            let object = try JSONSerialization.data(withJSONObject: rows[0])
            #expect(FeedPageSlots.scan(ByteBuffer(bytes: object))?.rows.map(\.id) == [rows[0]["id"] as! String])
        }
    }

    @Test("cursors decode by hand as Foundation decodes them; what is not a cursor is refused")
    func cursorKeys() {
        for _ in 0..<2_000 {
            let micros = Int64.random(in: -1...Int64.max / 2) >> Int64.random(in: 0...40)
            let id = UUID().uuidString
            let text = Bool.random() ? "\(micros)~\(id)" : "\(micros)~\(id.lowercased())"
            let cursor = Data(text.utf8).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            let key = FeedPageSlots.cursorKey(cursor)
            #expect(key != nil && key == Self.referenceKey(cursor), "\(cursor)")
            #expect(FeedPageSlots.cursorKey(cursor + "==".prefix(Int.random(in: 0...2))) == key, "padding is optional")
            // Mangled: where both decode, they agree (the hand decoder is laxer only about padding,
            // stricter about bits left over).
            var bytes = Array(cursor.utf8)
            for _ in 0..<Int.random(in: 1...3) {
                let index = Int.random(in: 0..<bytes.count)
                switch Int.random(in: 0..<3) {
                case 0: bytes[index] = Array("AZaz09-_+/=~!. ".utf8).randomElement()!
                case 1: bytes.remove(at: index)
                default: bytes.insert(Array("Qw8_=".utf8).randomElement()!, at: index)
                }
                if bytes.isEmpty { break }
            }
            let mangled = String(decoding: bytes, as: UTF8.self)
            if let decoded = FeedPageSlots.cursorKey(mangled), let reference = Self.referenceKey(mangled) {
                #expect(decoded == reference, "\(mangled)")
            }
        }
        for bad in ["", "~", "=", "MTIz", "MTIzfmFi=x", "MTIzfmFi!", "YWJjfmRlZg"] {  // "123", "abc~def": no "~" or no number
            #expect(FeedPageSlots.cursorKey(bad) == nil, "\(bad)")
        }
        #expect(FeedPageSlots.cursorKey("MTIzfmFi") == .init(microseconds: 123, id: "ab"))  // "123~ab"
    }

    @Test("a new row goes in its place (top, middle, end of a short page), cut to the limit, slots as if scanned anew")
    func inserting() throws {
        for count in [0, 1, 3, 5, 60] {
            // Rows newest first: indexes count-1 … 0, times rising with the index.
            let indexes = Array((0..<count).reversed())
            let body = count == 0 ? ByteBuffer(string: "[]") : Self.page(indexes)
            let slots = count == 0 ? FeedPageSlots.empty : try #require(FeedPageSlots.scan(body))
            let ids = indexes.map { String(format: "6f1c2b1e-0000-4000-8000-%012d", $0) }
            let newID = String(format: "6f1c2b1e-0000-4000-8000-%012d", 999)
            for limit in [1, 3, count + 1, 60] {
                // Newest of all: on top. Same time as row k, larger id: just above it. Older than all: at the end.
                var cases: [(micros: Int64, expected: [String])] = [(2_000_000, [newID] + ids)]
                for k in [0, count / 2, count - 1] where count > 0 {
                    let position = count - 1 - k
                    cases.append((1_000_000 + Int64(k), Array(ids[..<position]) + [newID] + Array(ids[position...])))
                }
                cases.append((500_000, ids + [newID]))
                for (micros, expected) in cases {
                    let wanted = Array(expected.prefix(limit))
                    switch slots.inserting(Self.row(999, micros: micros), limit: limit, onto: body) {
                    case .changed(let newBody, let newSlots):
                        #expect(newSlots == FeedPageSlots.scan(newBody), "\(count) rows, limit \(limit), at \(micros)")
                        #expect(Self.ids(newBody) == wanted, "\(count) rows, limit \(limit), at \(micros)")
                    case .unchanged:
                        #expect(!wanted.contains(newID), "left out though it belongs: \(count) rows, limit \(limit), at \(micros)")
                    case .refused:
                        Issue.record("refused: \(count) rows, limit \(limit), at \(micros)")
                    }
                }
            }
            // Already on the page (computed after the post): unchanged.
            if count > 0 {
                #expect(slots.inserting(Self.row(0, micros: 1_000_000), limit: 60, onto: body) == .unchanged)
            }
        }
        #expect(FeedPageSlots.empty.inserting(#"{"id":"x","like_count":1}"#, limit: 3, onto: ByteBuffer(string: "[]")) == .refused)
    }

    @Test("a page cut at a cursor: the rows after it, as if scanned anew; nil past a window that is not the whole feed")
    func cutting() throws {
        let body = Self.page((0..<10).reversed())
        let slots = try #require(FeedPageSlots.scan(body))
        for start in 0..<10 {
            for limit in [1, 3, 4] {
                let cursor = start == 0 ? nil : slots.rows[start - 1].cursor
                let complete = try #require(slots.page(after: cursor, limit: limit, complete: true, of: body))
                #expect(complete.slots == FeedPageSlots.scan(complete.body) || complete.slots.rows.isEmpty)
                #expect(complete.slots.rows.map(\.id) == slots.rows[start..<min(10, start + limit)].map(\.id))
                let partial = slots.page(after: cursor, limit: limit, complete: false, of: body)
                #expect((partial == nil) == (10 - start < limit), "start \(start), limit \(limit)")
            }
        }
        #expect(slots.page(after: "not-a-cursor-here", limit: 3, complete: true, of: body) == nil)
        let end = try #require(slots.page(after: slots.rows.last?.cursor, limit: 3, complete: true, of: body))
        #expect(String(buffer: end.body) == "[]")
    }

    @Test("a row pushed while a home window is being computed is put in when it completes: for its waiters and in the cache")
    func pushedWhileComputing() async throws {
        let cache = ResponseCache(ResponseCache.Configuration())
        let viewer = "v1"
        let tags = [CacheTag.home(viewer), CacheTag(ResponseCache.homeTopKind, "\(viewer)/60")]
        let started = AsyncStream<Void>.makeStream()
        let release = AsyncStream<Void>.makeStream()
        let computing = Task {
            try await cache.fetch("window", tags: tags) {
                started.continuation.yield()
                for await _ in release.stream { break }
                // Read from before the post: it is not on the page.
                return CachedResponse(status: 200, contentType: "application/json", contentRange: nil, body: Self.page((0..<5).reversed()))
            }
        }
        for await _ in started.stream { break }
        // A reader joining after the push must get the post too.
        let push = cache.push(Self.row(999, micros: 2_000_000), toHomeOf: viewer)
        #expect(push.pushed == 0 && push.dropped == 0)
        let joined = Task { try await cache.fetch("window", tags: tags) { Issue.record("computed twice"); return response("[]") } }
        try await Task.sleep(for: .milliseconds(50))
        release.continuation.yield()
        let first = try await computing.value, second = try await joined.value
        for answer in [first, second] {
            #expect(Self.ids(answer.response.body).first?.hasSuffix("000000000999") == true)
            #expect(Self.ids(answer.response.body).count == 6)
        }
        let hit = try await cache.fetch("window", tags: tags) { Issue.record("not stored"); return response("[]") }
        #expect(hit.outcome == .hit)
        #expect(Self.ids(hit.response.body).count == 6)
    }
    @Test("a push applied after later writes (the home worker's) leaves pages and computations started after its mark alone")
    func pushSinceMark() async throws {
        let cache = ResponseCache(ResponseCache.Configuration())
        func tags(_ viewer: String) -> [CacheTag] { [CacheTag.home(viewer), CacheTag(ResponseCache.homeTopKind, "\(viewer)/60")] }
        func window(_ viewer: String) async throws -> [String] {
            Self.ids(try await cache.fetch("window-\(viewer)", tags: tags(viewer)) { response("[]") }.response.body)
        }
        func store(_ viewer: String) async throws {
            _ = try await cache.fetch("window-\(viewer)", tags: tags(viewer)) {
                CachedResponse(status: 200, contentType: "application/json", contentRange: nil, body: Self.page((0..<5).reversed()))
            }
        }
        // "old" was computed before the post's announcement arrived; "new" after it (a block or a
        // deletion announced meanwhile dropped and rebuilt it: it shows what the database says now).
        try await store("old")
        let mark = cache.mark()
        try await store("new")
        // A computation started after the mark gets no pending row either.
        let started = AsyncStream<Void>.makeStream(), release = AsyncStream<Void>.makeStream()
        let computing = Task {
            try await cache.fetch("window-late", tags: tags("late")) {
                started.continuation.yield()
                for await _ in release.stream { break }
                return CachedResponse(status: 200, contentType: "application/json", contentRange: nil, body: Self.page((0..<5).reversed()))
            }
        }
        for await _ in started.stream { break }
        let post = Self.row(999, micros: 2_000_000)
        #expect(cache.push(post, toHomeOf: "old", since: mark).pushed == 1)
        #expect(cache.push(post, toHomeOf: "new", since: mark) == (0, 0))
        _ = cache.push(post, toHomeOf: "late", since: mark)
        release.continuation.yield()
        _ = try await computing.value
        #expect(try await window("old").first?.hasSuffix("000000000999") == true)
        #expect(try await window("new").count == 5)
        #expect(try await window("late").count == 5)
        // Without a mark (the listener pushing at once), every page gets it.
        #expect(cache.push(post, toHomeOf: "new").pushed == 1)
    }

    @Test("a follow's merge: rows replaced, put in their places and taken out, cut to the limit; a full window that lost rows is incomplete")
    func merging() async throws {
        let cache = ResponseCache(ResponseCache.Configuration())
        let viewer = "v1"
        let tags = [CacheTag.viewer(viewer), CacheTag.home(viewer), CacheTag(ResponseCache.homeTopKind, "\(viewer)/6"),
                    CacheTag(ResponseCache.homeWindowKind, viewer)]
        func id(_ index: Int) -> String { String(format: "6f1c2b1e-0000-4000-8000-%012d", index) }
        func row(_ index: Int) -> String { Self.row(index, micros: 1_000_000 + Int64(index)) }
        // A full window: rows 20, 18, …, 10 (the feed goes on below).
        _ = try await cache.fetch("window", tags: tags) {
            CachedResponse(status: 200, contentType: "application/json", contentRange: nil, body: Self.page([20, 18, 16, 14, 12, 10]))
        }
        var bounds = try #require(cache.homeWindows(of: viewer).first)
        #expect(bounds.limit == 6 && bounds.ids.count == 6)
        #expect(bounds.below == (try #require(FeedPageSlots.scan(Self.page([10])))).rows.first?.cursor)
        // A follow: 19 and 15 come in, 16's row changes (its reasons), 11 goes below the cut.
        let changed = row(16).replacingOccurrences(of: "[\"following\"]", with: "[\"entity\",\"following\"]")
        #expect(cache.merge([id(19): row(19), id(15): row(15), id(16): changed, id(11): row(11)], into: bounds))
        var window = try await cache.fetch("window", tags: tags) { Issue.record("dropped"); return response("[]") }
        #expect(Self.ids(window.response.body) == [20, 19, 18, 16, 15, 14].map(id))
        #expect(String(buffer: window.response.body).contains("[\"entity\",\"following\"]"))
        #expect(window.response.slots == FeedPageSlots.scan(window.response.body))
        #expect(!window.response.incomplete)
        // An unfollow: 19 and 15 leave a full window, which now holds fewer rows than its limit
        // without being the whole feed.
        bounds = try #require(cache.homeWindows(of: viewer).first)
        #expect(cache.merge([id(19): nil, id(15): nil], into: bounds))
        window = try await cache.fetch("window", tags: tags) { Issue.record("dropped"); return response("[]") }
        #expect(Self.ids(window.response.body) == [20, 18, 16, 14].map(id))
        #expect(window.response.incomplete)
        #expect(window.response.slots == FeedPageSlots.scan(window.response.body))
        bounds = try #require(cache.homeWindows(of: viewer).first)
        #expect(bounds.below == window.response.slots?.rows.last?.cursor)
        // A merge read from an older version of the window is not applied to a newer one.
        let stale = bounds
        #expect(cache.merge([id(17): row(17)], into: bounds))
        #expect(cache.merge([id(13): row(13)], into: stale))
        window = try await cache.fetch("window", tags: tags) { Issue.record("dropped"); return response("[]") }
        #expect(Self.ids(window.response.body) == [20, 18, 17, 16, 14].map(id))
        // Emptied, an incomplete window no longer says how far down it holds the feed: dropped.
        bounds = try #require(cache.homeWindows(of: viewer).first)
        #expect(!cache.merge(Dictionary(uniqueKeysWithValues: [20, 18, 17, 16, 14].map { (id($0), String?.none) }), into: bounds))
        #expect(cache.homeWindows(of: viewer).isEmpty)
        // A follow keeps the windows but drops the viewer's other pages.
        _ = try await cache.fetch("window", tags: tags) {
            CachedResponse(status: 200, contentType: "application/json", contentRange: nil, body: Self.page([3, 2, 1]))
        }
        _ = try await cache.fetch("profile", tags: [.viewer(viewer), .profile("p")]) { response("[]") }
        cache.invalidate(viewerKeepingWindows: viewer)
        #expect(cache.homeWindows(of: viewer).count == 1)
        let profile = try await cache.fetch("profile", tags: [.viewer(viewer), .profile("p")]) { response("[]") }
        #expect(profile.outcome == .miss)
    }
}

