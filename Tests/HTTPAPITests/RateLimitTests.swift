import AppConfig
import Foundation
import HTTPTypes
@testable import HTTPAPI
import Hummingbird
import RateLimiting
import Synchronization
import Testing
import TestSupport

/// A clock a test moves by hand.
final class ManualClock: Sendable {
    private let current = Mutex(ContinuousClock.now)
    func now() -> ContinuousClock.Instant { current.withLock { $0 } }
    func advance(by duration: Duration) { current.withLock { $0 += duration } }
}

@Suite("Rate limits on /rest/v1")
struct RateLimitTests {
    @Test("150 feed calls from one address in a minute: the first 100 pass, the other 50 get 429 with headers")
    func seedCheck() async throws {
        try await RestWorld.run(configure: { $0.rateLimits = RateLimitSettings() }) { (rest: RestTestClient, _: RestWorld, _: TestDatabase) async throws in
            var statuses: [HTTPResponse.Status] = []
            for index in 0..<150 {
                let reply = try await rest.send(.post, "/rpc/feed_fusion_home", json: [:])
                statuses.append(reply.status)
                #expect(reply["RateLimit-Policy"] == "\"default\";q=100;w=60")
                #expect(reply["X-RateLimit-Limit"] == "100")
                if index < 100 {
                    #expect(reply["RateLimit"]?.hasPrefix("\"default\";r=\(99 - index);t=") == true)
                } else {
                    #expect(reply.code == "PT429")
                    #expect((reply.object["message"] as? String)?.contains("retry in") == true)
                    #expect(reply["X-RateLimit-Remaining"] == "0")
                    #expect(Int(reply["Retry-After"] ?? "") ?? 0 >= 1)
                }
            }
            #expect(statuses.prefix(100).allSatisfy { $0 != .tooManyRequests })
            #expect(statuses.suffix(50).allSatisfy { $0 == .tooManyRequests })
        }
    }

    @Test("the window slides: a slot frees exactly one period after its request (injected clock)")
    func slidingWindow() async throws {
        let clock = ManualClock()
        try await RestWorld.run(
            configure: { $0.rateLimits.restPerMinute = 3 }, adjust: { $0.clock = { clock.now() } }
        ) { (rest: RestTestClient, _: RestWorld, _: TestDatabase) async throws in
            for _ in 0..<2 { #expect(try await rest.get("/profiles?select=id").status == .ok) }
            clock.advance(by: .seconds(30))
            #expect(try await rest.get("/profiles?select=id").status == .ok)
            let refused = try await rest.get("/profiles?select=id")
            #expect(refused.status == .tooManyRequests)
            #expect(refused["Retry-After"] == "30")
            clock.advance(by: .seconds(29))
            #expect(try await rest.get("/profiles?select=id").status == .tooManyRequests)
            clock.advance(by: .milliseconds(1001))
            // The first two requests left the window; the third (at 30 s) is still in it.
            let reopened = try await rest.get("/profiles?select=id")
            #expect(reopened.status == .ok)
            #expect(reopened["RateLimit"] == "\"default\";r=1;t=60")
            #expect(try await rest.get("/profiles?select=id").status == .ok)
            #expect(try await rest.get("/profiles?select=id").status == .tooManyRequests)
        }
    }

    @Test("a client's own X-Forwarded-For is ignored; a trusted proxy's names the client")
    func forwardedFor() async throws {
        try await RestWorld.run(mode: .live, configure: { $0.rateLimits.restPerMinute = 3 }) { (rest: RestTestClient, _: RestWorld, _: TestDatabase) async throws in
            for index in 0..<3 {
                #expect(try await rest.get("/profiles?select=id", headers: ["X-Forwarded-For": "10.0.0.\(index)"]).status == .ok)
            }
            #expect(try await rest.get("/profiles?select=id", headers: ["X-Forwarded-For": "10.0.0.9"]).status == .tooManyRequests)
        }
        try await RestWorld.run(mode: .live, configure: {
            $0.rateLimits.restPerMinute = 3
            $0.rateLimits.trustedProxies = [NetworkRange("127.0.0.0/8")!, NetworkRange("::1")!]
        }) { (rest: RestTestClient, world: RestWorld, _: TestDatabase) async throws in
            for _ in 0..<3 {
                #expect(try await rest.get("/profiles?select=id", headers: ["X-Forwarded-For": "203.0.113.7"]).status == .ok)
            }
            #expect(try await rest.get("/profiles?select=id", headers: ["X-Forwarded-For": "203.0.113.7"]).status == .tooManyRequests)
            // Another client behind the same proxy has its own allowance…
            #expect(try await rest.get("/profiles?select=id", headers: ["X-Forwarded-For": "203.0.113.8"]).status == .ok)
            // …and a signed-in user is limited as a user too, whichever address they come from.
            let user = rest.callAs(try await RestTestClient.token(for: world.a))
            for index in 0..<3 {
                #expect(try await user.get("/profiles?select=id", headers: ["X-Forwarded-For": "198.51.100.\(index)"]).status == .ok)
            }
            #expect(try await user.get("/profiles?select=id", headers: ["X-Forwarded-For": "198.51.100.9"]).status == .tooManyRequests)
        }
    }

    @Test("service_role is exempt; a bad token is still counted")
    func exemptions() async throws {
        try await RestWorld.run(configure: { $0.rateLimits.restPerMinute = 2 }) { (rest: RestTestClient, _: RestWorld, _: TestDatabase) async throws in
            let service = rest.callAs(try await RestTestClient.serviceKey())
            for _ in 0..<5 {
                let reply = try await service.get("/profiles?select=id")
                #expect(reply.status == .ok)
                #expect(reply["RateLimit"] == nil)
            }
            let forged = rest.callAs("not-a-token")
            #expect(try await forged.get("/profiles").status == .unauthorized)
            #expect(try await forged.get("/profiles").status == .unauthorized)
            #expect(try await forged.get("/profiles").status == .tooManyRequests)
        }
    }

    @Test("RATE_LIMIT_ENABLED=false removes the limit and its headers")
    func disabled() async throws {
        try await RestWorld.run(configure: {
            $0.rateLimits.enabled = false
            $0.rateLimits.restPerMinute = 1
        }) { (rest: RestTestClient, _: RestWorld, _: TestDatabase) async throws in
            for _ in 0..<3 {
                let reply = try await rest.get("/profiles?select=id")
                #expect(reply.status == .ok)
                #expect(reply["RateLimit"] == nil)
            }
        }
    }
}

@Suite("Rate limiter and client address")
struct RateLimiterUnitTests {
    @Test("a burst below the limit paces requests within the window")
    func burst() {
        let limiter = RateLimiter(RateLimit(limit: 10, period: .seconds(60), burst: 2))
        let start = ContinuousClock.now
        #expect(limiter.record("k", now: start).allowed)
        #expect(limiter.record("k", now: start).allowed)
        let third = limiter.record("k", now: start)
        #expect(!third.allowed)
        #expect(third.retryAfter == .seconds(12))
        #expect(limiter.record("k", now: start + .seconds(12) + .milliseconds(1)).allowed)
        #expect(limiter.record("other", now: start).allowed)
    }

    @Test("isExhausted does not count; reset forgets")
    func exhausted() {
        let limiter = RateLimiter(RateLimit(limit: 2, period: .seconds(10)))
        let now = ContinuousClock.now
        #expect(!limiter.isExhausted("k", now: now))
        limiter.record("k", now: now)
        #expect(!limiter.isExhausted("k", now: now))
        limiter.record("k", now: now)
        #expect(limiter.isExhausted("k", now: now))
        #expect(!limiter.isExhausted("k", now: now + .seconds(10)))
        limiter.reset("k")
        #expect(!limiter.isExhausted("k", now: now))
    }

    @Test("CIDR ranges, IPv4-mapped peers, bad ranges refused")
    func ranges() {
        let ten = NetworkRange("10.0.0.0/8")!
        #expect(ten.contains("10.200.3.4"))
        #expect(!ten.contains("11.0.0.1"))
        #expect(ten.contains("::ffff:10.1.2.3"))
        let six = NetworkRange("2001:db8::/32")!
        #expect(six.contains("2001:db8:1::7"))
        #expect(!six.contains("2001:db9::1"))
        #expect(!six.contains("10.0.0.1"))
        #expect(NetworkRange("1.2.3.4/33") == nil)
        #expect(NetworkRange("example.com") == nil)
    }

    @Test("IPv6 clients are limited by their /64, IPv4 (also mapped) by their address")
    func buckets() {
        #expect(NetworkRange.rateLimitBucket(of: "2001:db8:1:2::a") == "2001:db8:1:2::/64")
        #expect(NetworkRange.rateLimitBucket(of: "2001:0db8:0001:0002:ffff:1:2:3") == "2001:db8:1:2::/64")
        #expect(NetworkRange.rateLimitBucket(of: "2001:db8:1:3::a") == "2001:db8:1:3::/64")
        #expect(NetworkRange.rateLimitBucket(of: "::ffff:192.0.2.7") == "192.0.2.7")
        #expect(NetworkRange.rateLimitBucket(of: "192.0.2.7") == "192.0.2.7")
        #expect(NetworkRange.rateLimitBucket(of: "unknown") == "unknown")
    }

    @Test("hosts of one IPv6 /64 share an allowance behind a trusted proxy (issue 17)")
    func ipv6Prefix() async throws {
        try await RestWorld.run(mode: .live, configure: {
            $0.rateLimits.restPerMinute = 3
            $0.rateLimits.trustedProxies = [NetworkRange("127.0.0.0/8")!, NetworkRange("::1")!]
        }) { (rest: RestTestClient, _: RestWorld, _: TestDatabase) async throws in
            for host in ["a", "b", "c"] {
                #expect(try await rest.get("/profiles?select=id", headers: ["X-Forwarded-For": "2001:db8:1:2::\(host)"]).status == .ok)
            }
            #expect(try await rest.get("/profiles?select=id", headers: ["X-Forwarded-For": "2001:db8:1:2::d"]).status == .tooManyRequests)
            #expect(try await rest.get("/profiles?select=id", headers: ["X-Forwarded-For": "2001:db8:1:3::a"]).status == .ok)
        }
    }

    @Test("/ready works the database out at most once a second, however many ask")
    func readinessMemo() async throws {
        final class Counter: Sendable {
            let count = Mutex(0)
        }
        let memo = ReadinessMemo()
        let counter = Counter()
        let states = await withTaskGroup(of: ReadinessState.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    await memo.value {
                        counter.count.withLock { $0 += 1 }
                        try? await Task.sleep(for: .milliseconds(100))
                        return .ready
                    }
                }
            }
            return await group.reduce(into: [ReadinessState]()) { $0.append($1) }
        }
        #expect(states.count == 200)
        #expect(counter.count.withLock { $0 } == 1)
        try await Task.sleep(for: .milliseconds(1100))
        _ = await memo.value {
            counter.count.withLock { $0 += 1 }
            return .ready
        }
        #expect(counter.count.withLock { $0 } == 2)
    }

    @Test("the client is the nearest untrusted hop of the forwarded chain")
    func chain() {
        let address = ClientAddress(trustedProxies: [NetworkRange("10.0.0.0/8")!])
        func client(_ headers: HTTPFields, peer: String?) -> String {
            address.of(Request(head: .init(method: .get, scheme: "http", authority: "x", path: "/", headerFields: headers), body: .init(buffer: .init())), peer: peer)
        }
        #expect(client([.forwardedFor: "1.1.1.1, 2.2.2.2, 10.0.0.5"], peer: "10.0.0.1") == "2.2.2.2")
        #expect(client([.forwardedFor: "1.1.1.1"], peer: "9.9.9.9") == "9.9.9.9")
        #expect(client([.forwarded: "for=\"[2001:db8::1]:4711\";proto=https"], peer: "10.0.0.1") == "2001:db8::1")
        #expect(client([.forwarded: "for=192.0.2.60:80"], peer: "10.0.0.1") == "192.0.2.60")
        #expect(client([:], peer: "10.0.0.1") == "10.0.0.1")
        #expect(client([:], peer: nil) == "unknown")
    }
}
