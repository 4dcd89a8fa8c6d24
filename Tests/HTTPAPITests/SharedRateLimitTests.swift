import AppConfig
import Foundation
import HTTPTypes
import HummingbirdTesting
import Redis
import Testing
import TestSupport

/// Rate limits kept in Redis: shared by server instances, and still enforced per instance when Redis is away.
@Suite("Rate limits shared through Redis")
struct SharedRateLimitTests {
    func withTwoInstances(
        limit: Int, redis: TestRedis, _ body: @Sendable (RestTestClient, RestTestClient) async throws -> Void
    ) async throws {
        try await TestApp.withTwoInstances(redis: redis, configure: { $0.rateLimits.restPerMinute = limit }) { one, two, _ in
            try await body(one, two)
        }
    }

    @Test("two instances share one limit")
    func shared() async throws {
        let redis = try TestRedis()
        try await withTwoInstances(limit: 5, redis: redis) { one, two in
            for _ in 0..<3 { #expect(try await one.get("/profiles?select=id").status == .ok) }
            let fourth = try await two.get("/profiles?select=id")
            #expect(fourth.status == .ok)
            #expect(fourth["RateLimit"]?.hasPrefix("\"default\";r=1;") == true)
            #expect(try await two.get("/profiles?select=id").status == .ok)
            let refused = try await two.get("/profiles?select=id")
            #expect(refused.status == .tooManyRequests)
            #expect(Int(refused["Retry-After"] ?? "") ?? 0 >= 1)
            #expect(try await one.get("/profiles?select=id").status == .tooManyRequests)
        }
    }

    @Test("a Redis that hangs costs one request its timeout, not every request")
    func hangingRedis() async throws {
        let redis = try TestRedis()
        try await withTwoInstances(limit: 1000, redis: redis) { one, _ in
            #expect(try await one.get("/profiles?select=id").status == .ok)
            let stall = try await RedisConnection.connect(to: RedisEndpoint(url: redis.url)!, timeout: .seconds(3))
            let sleeping = Task { try await stall.send(["DEBUG", "SLEEP", "2"], timeout: .seconds(3)) }
            try await Task.sleep(for: .milliseconds(50))
            let started = ContinuousClock.now
            // Ten requests while Redis hangs: the first waits for the 250 ms command timeout, the
            // others are limited in-process at once (ten timeouts would take 2.5 s).
            for _ in 0..<10 { #expect(try await one.get("/profiles?select=id").status == .ok) }
            #expect(ContinuousClock.now - started < .milliseconds(1500))
            _ = try await sleeping.value
        }
    }

    @Test("Redis killed mid-run: no request fails; limits go on per instance, then shared again")
    func outage() async throws {
        let redis = try TestRedis()
        try await withTwoInstances(limit: 8, redis: redis) { one, two in
            #expect(try await one.get("/profiles?select=id").status == .ok)
            redis.stop()
            for _ in 0..<6 {
                let reply = try await one.get("/profiles?select=id")
                #expect(reply.status == .ok)
                #expect(reply["RateLimit"] != nil)
            }
            // Per instance meanwhile: the first instance has 6 of its own, so 2 more, then 429.
            #expect(try await one.get("/profiles?select=id").status == .ok)
            #expect(try await one.get("/profiles?select=id").status == .ok)
            #expect(try await one.get("/profiles?select=id").status == .tooManyRequests)
            #expect(try await two.get("/profiles?select=id").status == .ok)
            try redis.start()
            var shared = false
            for _ in 0..<40 where !shared {
                let reply = try await two.get("/profiles?select=id")
                // A fresh Redis has no history: the shared count starts again and shows in the header.
                shared = reply.status == .ok && reply["RateLimit"]?.hasPrefix("\"default\";r=7;") == true
                if !shared { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(shared)
            #expect(try await one.get("/profiles?select=id")["RateLimit"]?.hasPrefix("\"default\";r=6;") == true)
        }
    }
}
