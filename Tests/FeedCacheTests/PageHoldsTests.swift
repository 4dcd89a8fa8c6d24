import Foundation
import NIOCore
import Synchronization
import Testing

@testable import FeedCache

/// A home held for a write still on its way into it (a post being fanned out, a follow being
/// merged): until the home worker has been, a read does not use a page of that home computed before
/// the write's mark; pages computed since are used as any other.
@Suite("Homes held until the home worker has been")
struct PageHoldsTests {
    @Test("holds last until as many releases; a post's hold has the latest mark of its posts, a follow's has none")
    func holds() {
        let holds = PageHolds()
        #expect(holds.mark(of: "a") == nil)
        holds.hold(posts: ["a", "b"], mark: 5)
        holds.hold(posts: ["a"], mark: 9)
        holds.hold(follows: ["b", "c"])
        #expect(holds.mark(of: "a") == 9 && holds.mark(of: "b") == 5 && holds.mark(of: "c") == nil)
        holds.release(posts: ["b", "a"], follows: [String]())
        #expect(holds.mark(of: "b") == nil && holds.isHeld("b"), "b's follow is still held")
        #expect(holds.mark(of: "a") == 9, "one of a's two holds is left")
        holds.release(posts: ["a"], follows: ["b", "c"])
        #expect(!holds.isHeld("a") && !holds.isHeld("b") && !holds.isHeld("c"))
        // More releases than holds change nothing.
        holds.release(posts: ["a", "a"], follows: ["a"])
        holds.hold(posts: ["a"], mark: 1)
        #expect(holds.mark(of: "a") == 1)
    }

    @Test("a read of a held home waits until every hold of it ended (posts and follows); never longer than the bound")
    func waiting() async throws {
        let holds = PageHolds(timeout: .seconds(30))
        await holds.wait(for: "a")
        #expect(holds.statistics.waits == 0, "a home not held is not waited for")
        holds.hold(posts: ["a", "b"], mark: 3)
        holds.hold(follows: ["a"])
        let released = Mutex(0)
        let reader = Task {
            await holds.wait(for: "a")
            return released.withLock { $0 }
        }
        // Another home's hold ending lets nobody through; a's follow neither, while its post is held.
        try await Task.sleep(for: .milliseconds(50))
        holds.release(posts: ["b"], follows: ["a"])
        try await Task.sleep(for: .milliseconds(50))
        released.withLock { $0 = 1 }
        holds.release(posts: ["a"], follows: [String]())
        #expect(await reader.value == 1, "the reader went on before the last merge")
        #expect(holds.statistics.waits == 1 && holds.statistics.timedOut == 0)
        // Racing readers and releases: none left behind.
        await withTaskGroup(of: Void.self) { group in
            for round in 0..<200 {
                let viewer = "v\(round % 8)"
                holds.hold(follows: [viewer])
                group.addTask { await holds.wait(for: viewer) }
                group.addTask {
                    await Task.yield()
                    holds.release(posts: [String](), follows: [viewer])
                }
            }
        }
        #expect(holds.statistics.timedOut == 0)
        // A merge that never comes keeps a reader no longer than the bound.
        let bounded = PageHolds(timeout: .milliseconds(50))
        bounded.hold(follows: ["a"])
        await bounded.wait(for: "a")
        #expect(bounded.statistics.timedOut == 1 && bounded.isHeld("a"))
    }

    @Test("a held home's pages and computations from before the mark are dropped; later ones and other homes kept")
    func dropping() async throws {
        let cache = ResponseCache(ResponseCache.Configuration())
        @Sendable func page(_ text: String) -> CachedResponse {
            CachedResponse(status: 200, contentType: "application/json", contentRange: nil, body: ByteBuffer(string: text))
        }
        func read(_ key: String, _ viewer: String, _ text: String) async throws -> ResponseCache.Answer {
            try await cache.fetch(key, tags: [.home(viewer)]) { page(text) }
        }
        _ = try await read("a-old", "a", "old")
        _ = try await read("b-old", "b", "old")
        // A computation of a's home in flight across the mark: it may have read from before the write.
        let started = AsyncStream<Void>.makeStream(), release = AsyncStream<Void>.makeStream()
        let slow = Task {
            try await cache.fetch("a-slow", tags: [.home("a")]) {
                started.continuation.yield()
                for await _ in release.stream { break }
                return page("before")
            }
        }
        for await _ in started.stream { break }
        let mark = cache.mark()
        _ = try await read("a-new", "a", "new")
        #expect(cache.drop(.home("a"), before: mark))
        #expect(try await read("a-old", "a", "recomputed").outcome == .miss)
        #expect(try await read("a-new", "a", "-").outcome == .hit, "computed after the mark: kept")
        #expect(try await read("b-old", "b", "-").outcome == .hit, "another viewer's home is not touched")
        // The computation from before: not stored; the next read computes anew.
        release.continuation.yield()
        _ = try await slow.value
        let after = try await read("a-slow", "a", "after")
        #expect(after.outcome == .miss && String(buffer: after.response.body) == "after")
        // Nothing left from before the mark: nothing dropped, not counted.
        #expect(!cache.drop(.home("a"), before: mark))
    }
}
