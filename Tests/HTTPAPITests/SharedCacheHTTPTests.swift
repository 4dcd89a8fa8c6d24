import AppConfig
import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresNIO
import Redis
import Testing
import TestSupport

/// Two server instances over one database and one Redis: one computes, the other is served from
/// Redis; each sees the other's writes; Redis going away fails no request and serves nothing outdated.
@Suite("Feed cache shared through Redis")
struct SharedCacheHTTPTests {
    /// B (who follows A) on each of two instances sharing Redis, over the REST world.
    func withTwoInstances(
        redis: TestRedis, _ body: @Sendable (_ b1: RestTestClient, _ b2: RestTestClient, RestWorld, TestDatabase) async throws -> Void
    ) async throws {
        try await TestApp.withTwoInstances(redis: redis, configure: { $0.observability.metricsToken = Self.metricsToken }) {
            one, two, database in
            let world = try await database.withClient { try await RestWorld.make($0) }
            let token = try await RestTestClient.token(for: world.b)
            // Both instances flush Redis as their listeners connect; wait until they have.
            try await Task.sleep(for: .milliseconds(300))
            try await body(one.callAs(token), two.callAs(token), world, database)
        }
    }

    func home(_ client: RestTestClient) async throws -> RestTestClient.Reply {
        try await client.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 50])
    }

    static let metricsToken = "metrics-token-0123456789"

    func metrics(_ client: RestTestClient) async throws -> String {
        try await client.client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(Self.metricsToken)"]) {
            String(buffer: $0.body)
        }
    }

    static let sharedHit = "FeedFusion-Redis; hit, FeedFusion; fwd=miss; stored"

    @Test("one instance's answer serves the other; writes through either instance or SQL reach both")
    func sharedAndExact() async throws {
        let redis = try TestRedis()
        try await withTwoInstances(redis: redis) { b1, b2, world, database in
            let a2 = b2.callAs(try await RestTestClient.token(for: world.a))
            let computed = try await home(b1)
            #expect(computed["Cache-Status"]?.hasPrefix("FeedFusion; fwd=miss; stored") == true)
            let shared = try await home(b2)
            #expect(shared["Cache-Status"]?.hasPrefix(Self.sharedHit) == true)
            #expect(shared.column("body") == computed.column("body"))
            #expect(try await home(b2)["Cache-Status"]?.hasPrefix("FeedFusion; hit") == true)
            #expect(try await metrics(b2).contains("feedfusion_cache_shared_operations_total{outcome=\"hit\"} 1"))

            // A (followed by B) posts through instance two; B's home on instance one shows it.
            #expect(try await a2.send(.post, "/rpc/create_post", json: ["p_body": "posted on two"]).status == .ok)
            #expect(try await eventually { try await home(b1).column("body").contains("posted on two") })
            #expect(try await home(b2).column("body").contains("posted on two"))

            // Written in SQL: both instances drop their copies and Redis's.
            try await database.withClient { client in
                try await client.query("INSERT INTO public.posts (author_id, body) VALUES (\(world.a), 'written in psql')")
            }
            #expect(try await eventually { try await home(b1).column("body").contains("written in psql") })
            #expect(try await eventually { try await home(b2).column("body").contains("written in psql") })
        }
    }

    @Test("Redis killed mid-test: no request fails, nothing outdated is served, sharing resumes")
    func outage() async throws {
        let redis = try TestRedis()
        try await withTwoInstances(redis: redis) { b1, b2, world, database in
            _ = try await home(b1)
            #expect(try await home(b2)["Cache-Status"]?.hasPrefix(Self.sharedHit) == true)

            redis.stop()
            try await database.withClient { client in
                try await client.query("INSERT INTO public.posts (author_id, body) VALUES (\(world.a), 'while redis was down')")
            }
            for client in [b1, b2, b1, b2] {
                let reply = try await home(client)
                #expect(reply.status == .ok)
            }
            #expect(try await eventually { try await home(b1).column("body").contains("while redis was down") })
            #expect(try await eventually { try await home(b2).column("body").contains("while redis was down") })

            try redis.start()
            // Once Redis answers again, one instance's answer serves the other again — and it is current.
            var resumed = false
            for _ in 0..<60 where !resumed {
                try await database.withClient { client in
                    try await client.query("UPDATE public.posts SET body = body WHERE body = 'while redis was down'")
                }
                try await Task.sleep(for: .milliseconds(100))
                _ = try await home(b1)
                let reply = try await home(b2)
                #expect(reply.status == .ok)
                resumed = reply["Cache-Status"]?.hasPrefix(Self.sharedHit) == true
                if resumed { #expect(reply.column("body").contains("while redis was down")) }
            }
            #expect(resumed)
        }
    }
}
