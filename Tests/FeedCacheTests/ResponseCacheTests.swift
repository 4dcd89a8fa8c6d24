import FeedCache
import NIOCore
import Synchronization
import Testing

/// A clock and a die a test sets by hand.
final class Controls: Sendable {
    private let instant = Mutex(ContinuousClock.now)
    private let roll = Mutex(0.5)
    func now() -> ContinuousClock.Instant { instant.withLock { $0 } }
    func advance(_ duration: Duration) { instant.withLock { $0 += duration } }
    func random() -> Double { roll.withLock { $0 } }
    func setRandom(_ value: Double) { roll.withLock { $0 = value } }
}

final class Counter: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
    var count: Int { value.withLock { $0 } }
}

struct DatabaseDown: Error {}

func response(_ text: String) -> CachedResponse {
    CachedResponse(status: 200, contentType: "application/json", contentRange: nil, body: ByteBuffer(string: text))
}

func body(_ answer: ResponseCache.Answer) -> String { String(buffer: answer.response.body) }

@Suite("Response cache")
struct ResponseCacheTests {
    func makeCache(_ controls: Controls, configure: (inout ResponseCache.Configuration) -> Void = { _ in }) -> ResponseCache {
        var configuration = ResponseCache.Configuration()
        configure(&configuration)
        return ResponseCache(configuration, clock: { controls.now() }, random: { controls.random() }, mayServeStale: { $0 is DatabaseDown })
    }

    @Test("1,000 concurrent misses for one key run one computation; all get its answer")
    func singleFlight() async throws {
        let cache = makeCache(Controls())
        let computations = Counter()
        let outcomes = try await withThrowingTaskGroup(of: ResponseCache.Outcome.self) { group in
            for _ in 0..<1000 {
                group.addTask {
                    let answer = try await cache.fetch("home:a", tags: []) {
                        let n = computations.next()
                        try await Task.sleep(for: .milliseconds(200))
                        return response("answer \(n)")
                    }
                    #expect(body(answer) == "answer 1")
                    return answer.outcome
                }
            }
            return try await group.reduce(into: [ResponseCache.Outcome: Int]()) { $0[$1, default: 0] += 1 }
        }
        #expect(computations.count == 1)
        #expect(outcomes[.miss] == 1)
        #expect(outcomes[.coalesced] == 999)
        let again = try await cache.fetch("home:a", tags: []) { response("never") }
        #expect(again.outcome == .hit)
        #expect(body(again) == "answer 1")
    }

    @Test("XFetch: far from expiry no refresh; near it, a lucky roll refreshes in the background")
    func earlyRefresh() async throws {
        let controls = Controls()
        let cache = makeCache(controls) { $0.ttl = .seconds(60) }
        let computations = Counter()
        @Sendable func compute() async throws -> CachedResponse {
            let n = computations.next()
            controls.advance(.seconds(2))  // the computation "costs" 2 s: Δ = 2 s
            return response("v\(n)")
        }
        _ = try await cache.fetch("k", tags: [], compute: compute)
        // 10 s after storing, rand = 0.5: lead = 2·1·ln 2 ≈ 1.4 s — far from the 60 s expiry.
        controls.advance(.seconds(10))
        #expect(try await cache.fetch("k", tags: [], compute: compute).outcome == .hit)
        #expect(computations.count == 1)
        // 57 s after storing: 3 s left. rand = 0.5 still waits; rand = 0.1 gives lead ≈ 4.6 s ≥ 3 s.
        controls.advance(.seconds(47))
        #expect(try await cache.fetch("k", tags: [], compute: compute).outcome == .hit)
        #expect(computations.count == 1)
        controls.setRandom(0.1)
        let early = try await cache.fetch("k", tags: [], compute: compute)
        #expect(early.outcome == .hit)
        #expect(body(early) == "v1")
        for _ in 0..<100 where cache.statistics.refreshes == 0 || computations.count < 2 { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(computations.count == 2)
        let renewed = try await cache.fetch("k", tags: [], compute: compute)
        #expect(body(renewed) == "v2")
        #expect(renewed.outcome == .hit)
    }

    @Test("TTL jitter: an answer lives a random share of the TTL, so answers computed together expire apart")
    func ttlJitter() async throws {
        let controls = Controls()
        let cache = makeCache(controls) {
            $0.ttl = .seconds(60)
            $0.ttlJitter = 0.5
            $0.beta = 0  // no early refresh: only the expiry is under test
        }
        let computations = Counter()
        @Sendable func compute() async throws -> CachedResponse { response("v\(computations.next())") }
        // rand = 0.5: lives 60 · (1 − 0.5 · 0.5) = 45 s.
        _ = try await cache.fetch("a", tags: [], compute: compute)
        // rand = 0.1: lives 57 s.
        controls.setRandom(0.1)
        _ = try await cache.fetch("b", tags: [], compute: compute)
        controls.advance(.seconds(44))
        #expect(try await cache.fetch("a", tags: [], compute: compute).outcome == .hit)
        controls.advance(.seconds(2))
        #expect(try await cache.fetch("a", tags: [], compute: compute).outcome == .miss)
        #expect(try await cache.fetch("b", tags: [], compute: compute).outcome == .hit)
        controls.advance(.seconds(12))
        #expect(try await cache.fetch("b", tags: [], compute: compute).outcome == .miss)
    }

    @Test("database down: an expired entry is served stale within the limit, an error beyond it")
    func staleOnError() async throws {
        let controls = Controls()
        let cache = makeCache(controls) {
            $0.ttl = .seconds(60)
            $0.staleLimit = .seconds(300)
        }
        _ = try await cache.fetch("k", tags: []) { response("old") }
        controls.advance(.seconds(120))
        let stale = try await cache.fetch("k", tags: []) { throw DatabaseDown() }
        #expect(stale.outcome == .stale)
        #expect(body(stale) == "old")
        #expect(stale.timeToLive < .zero)
        // A refusal that is not the database failing is not papered over.
        struct BadRequest: Error {}
        await #expect(throws: BadRequest.self) { try await cache.fetch("k", tags: []) { throw BadRequest() } }
        controls.advance(.seconds(300))
        await #expect(throws: DatabaseDown.self) { try await cache.fetch("k", tags: []) { throw DatabaseDown() } }
    }

    @Test("database slow: the stale entry answers after the patience limit; the refresh still lands")
    func staleWhenSlow() async throws {
        let controls = Controls()
        let cache = makeCache(controls) {
            $0.ttl = .seconds(60)
            $0.staleIfSlowerThan = .milliseconds(100)
        }
        _ = try await cache.fetch("k", tags: []) { response("old") }
        controls.advance(.seconds(61))
        let started = ContinuousClock.now
        let answer = try await cache.fetch("k", tags: []) {
            try await Task.sleep(for: .milliseconds(600))
            return response("new")
        }
        #expect(answer.outcome == .stale)
        #expect(ContinuousClock.now - started < .milliseconds(500))
        try await Task.sleep(for: .milliseconds(800))
        #expect(body(try await cache.fetch("k", tags: []) { response("never") }) == "new")
    }

    @Test("invalidation drops tagged entries only, and an invalidated computation is not stored")
    func invalidation() async throws {
        let cache = makeCache(Controls())
        _ = try await cache.fetch("home:a", tags: [.home("a"), .viewer("a")]) { response("a1") }
        _ = try await cache.fetch("home:b", tags: [.home("b"), .viewer("b")]) { response("b1") }
        #expect(cache.ids(ofKind: "home") == ["a", "b"])
        cache.invalidate([.home("a")])
        #expect(cache.ids(ofKind: "home") == ["b"])
        #expect(try await cache.fetch("home:b", tags: [.home("b")]) { response("b2") }.outcome == .hit)

        // A write lands while home:a is being computed: that answer may predate it.
        let slow = Task {
            try await cache.fetch("home:a", tags: [.home("a")]) {
                try await Task.sleep(for: .milliseconds(200))
                return response("before the write")
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(cache.ids(ofKind: "home").contains("a"))
        cache.invalidate([.home("a")])
        _ = try await slow.value
        let fresh = try await cache.fetch("home:a", tags: [.home("a")]) { response("after the write") }
        #expect(fresh.outcome == .miss)
        #expect(body(fresh) == "after the write")
    }

    @Test("bounded by entries and by bytes, least recently used out first")
    func bounds() async throws {
        let cache = makeCache(Controls()) {
            $0.maxEntries = 3
            $0.maxBytes = 1 << 20
        }
        for key in ["a", "b", "c"] { _ = try await cache.fetch(key, tags: []) { response(key) } }
        _ = try await cache.fetch("a", tags: []) { response("never") }  // a is now the most recent
        _ = try await cache.fetch("d", tags: []) { response("d") }
        #expect(cache.statistics.entries == 3)
        #expect(try await cache.fetch("b", tags: []) { response("b again") }.outcome == .miss)
        #expect(try await cache.fetch("a", tags: []) { response("never") }.outcome == .hit)

        let small = makeCache(Controls()) { $0.maxBytes = 3000 }
        let big = String(repeating: "x", count: 1000)
        for key in ["a", "b", "c", "d"] { _ = try await small.fetch(key, tags: []) { response(big) } }
        #expect(small.statistics.entries == 2)
        #expect(small.statistics.bytes <= 3000)
        #expect(small.statistics.evictions == 2)
    }

    @Test("the ETag is strong and follows the bytes")
    func etag() {
        #expect(response("[1]").etag == response("[1]").etag)
        #expect(response("[1]").etag != response("[2]").etag)
        #expect(response("[1]").etag.hasPrefix("\"") && response("[1]").etag.count == 34)
    }
}
