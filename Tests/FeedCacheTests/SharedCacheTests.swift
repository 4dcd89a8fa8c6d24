import FeedCache
import Foundation
import Logging
import NIOCore
import Redis
import Synchronization
import Testing
import TestSupport

/// The second level in a real `redis-server`: answers shared by instances, versions that keep it
/// exact, pub/sub fan-out, and Redis failing.
@Suite("Shared cache (Redis)")
struct SharedCacheTests {
    /// One "server instance": its own in-process cache over the shared Redis.
    func instance(_ redis: TestRedis) -> ResponseCache {
        var configuration = RedisClient.Configuration(endpoint: RedisEndpoint(url: redis.url)!)
        configuration.commandTimeout = .milliseconds(200)
        let shared = SharedCache(redis: RedisClient(configuration), logger: Logger(label: "test.shared-cache"))
        return ResponseCache(ResponseCache.Configuration(), shared: shared)
    }

    let tags: [CacheTag] = [.viewer("u1"), .home("u1")]

    @Test("an answer computed by one instance is served by another without computing")
    func sharedAnswer() async throws {
        let redis = try TestRedis()
        let one = instance(redis), two = instance(redis)
        let computations = Counter()
        let first = try await one.fetch("home:u1", tags: tags) { _ = computations.next(); return response("feed of u1") }
        #expect(first.outcome == .miss && !first.shared)
        let second = try await two.fetch("home:u1", tags: tags) { _ = computations.next(); return response("recomputed") }
        #expect(second.shared)
        #expect(body(second) == "feed of u1")
        // What it has left in Redis, not a fresh TTL.
        #expect(second.timeToLive <= .seconds(60) && second.timeToLive > .seconds(50))
        #expect(computations.count == 1)
        // Now in the second instance's own memory as well.
        #expect(try await two.fetch("home:u1", tags: tags) { response("never") }.outcome == .hit)
        // The home feed's user is known to every instance, for follower invalidation.
        #expect(await two.shared?.cachedHomes() == ["u1"])
    }

    @Test("an invalidation anywhere outdates the shared answer, even one whose query raced it")
    func exactness() async throws {
        let redis = try TestRedis()
        let one = instance(redis), two = instance(redis), three = instance(redis)
        _ = try await one.fetch("home:u1", tags: tags) { response("before") }
        await two.invalidateEverywhere([.home("u1")])
        let after = try await three.fetch("home:u1", tags: tags) { response("after") }
        #expect(!after.shared && body(after) == "after")

        // A query that started before a write and finishes after its invalidation is not shared.
        await three.invalidateEverywhere([.home("u1")])
        let release = AsyncStream<Void>.makeStream()
        let slow = Task {
            try await two.fetch("home:u1", tags: [.viewer("u1"), .home("u1")]) {
                for await _ in release.stream { break }
                return response("raced")
            }
        }
        try await Task.sleep(for: .milliseconds(100))  // its lookup (and version read) is done
        await one.invalidateEverywhere([.viewer("u1")])
        release.continuation.yield()
        #expect(body(try await slow.value) == "raced")
        let fresh = instance(redis)
        let next = try await fresh.fetch("home:u1", tags: tags) { response("recomputed") }
        #expect(!next.shared && body(next) == "recomputed")

        // Whole kinds (an entity renamed drops every entity feed) and unrelated tags.
        _ = try await one.fetch("entity:e1", tags: [.viewer("anon"), .entity("e1")]) { response("entity") }
        _ = try await one.fetch("profile:p1", tags: [.viewer("anon"), .profile("p1")]) { response("profile") }
        await two.invalidateEverywhere([], kinds: ["entity"])
        let other = instance(redis)
        #expect(try await other.fetch("entity:e1", tags: [.viewer("anon"), .entity("e1")]) { response("entity 2") }.shared == false)
        #expect(try await other.fetch("profile:p1", tags: [.viewer("anon"), .profile("p1")]) { response("profile 2") }.shared)
    }

    @Test("targeted invalidations reach the other instances' memory through pub/sub; a whole flush stays in Redis")
    func fanOut() async throws {
        let redis = try TestRedis()
        let one = instance(redis), two = instance(redis)
        let listening = Task {
            try await SharedCacheSubscriber(cache: two, shared: two.shared!, logger: Logger(label: "test")).run()
        }
        defer { listening.cancel() }
        try await Task.sleep(for: .milliseconds(300))
        _ = try await two.fetch("home:u1", tags: tags) { response("cached in two") }
        #expect(two.statistics.entries == 1)
        // One instance dropping everything of its own (its listener reconnected) empties Redis, not the
        // others' memory: they keep their copies exact themselves.
        await one.invalidateAllEverywhere()
        try await Task.sleep(for: .milliseconds(200))
        #expect(two.statistics.entries == 1)
        #expect(try await instance(redis).fetch("home:u1", tags: tags) { response("recomputed") }.shared == false)
        await one.invalidateEverywhere([.viewer("u1")])
        var dropped = false
        for _ in 0..<40 where !dropped {
            dropped = two.statistics.entries == 0
            if !dropped { try await Task.sleep(for: .milliseconds(25)) }
        }
        #expect(dropped)
    }

    @Test("Redis gone: answers come from the database, quickly; a lost invalidation flushes Redis before reuse")
    func outage() async throws {
        let redis = try TestRedis()
        let one = instance(redis), two = instance(redis)
        _ = try await two.fetch("home:u1", tags: tags) { response("old") }

        // Redis stalls (longer than the command timeout) while `one` invalidates: the write is lost.
        let stall = try await RedisConnection.connect(to: RedisEndpoint(url: redis.url)!, timeout: .seconds(2))
        let sleeping = Task { try await stall.send(["DEBUG", "SLEEP", "0.6"], timeout: .seconds(2)) }
        try await Task.sleep(for: .milliseconds(50))
        let started = ContinuousClock.now
        await one.invalidateEverywhere([.home("u1")])
        let answer = try await one.fetch("home:u1", tags: tags) { response("from the database") }
        #expect(body(answer) == "from the database" && !answer.shared)
        #expect(ContinuousClock.now - started < .milliseconds(550))
        _ = try await sleeping.value
        try await Task.sleep(for: .seconds(1))  // the backoff

        // `one` flushes as soon as Redis may answer again, without waiting for a request of its own,
        // so no instance is served the outdated answer.
        #expect(one.shared?.statistics.flushes == 1)
        let fresh = instance(redis)
        #expect(try await fresh.fetch("home:u1", tags: tags) { response("new") }.shared == false)

        // Redis killed: still answers, without errors.
        redis.stop()
        for n in 0..<5 {
            let answer = try await instance(redis).fetch("k\(n)", tags: tags) { response("db \(n)") }
            #expect(body(answer) == "db \(n)")
        }
    }
}
