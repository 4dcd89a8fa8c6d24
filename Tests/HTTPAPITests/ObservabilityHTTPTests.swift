import AppConfig
import Database
import Foundation
import ManagedPostgres
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Synchronization
import Testing
import TestSupport

/// What an operator reads: rpc_observations rows per request, /metrics behind its token, unexpected
/// errors in error_events and at a Sentry endpoint, a request id on every answer.
@Suite("Observability over HTTP")
struct ObservabilityHTTPTests {
    static func fastFlush(_ settings: inout Settings) {
        settings.observability.flushIntervalMilliseconds = 20
    }

    @Test("every data-API request becomes an rpc_observations row with its cache result; the seed's SQL counts them")
    func observations() async throws {
        try await RestWorld.run(configure: Self.fastFlush) { (rest: RestTestClient, world: RestWorld, database: TestDatabase) async throws in
            let b = rest.callAs(try await RestTestClient.token(for: world.b))
            let miss = try await b.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 5])
            let hit = try await b.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 5])
            #expect(hit["Cache-Status"]?.contains("hit") == true)
            let table = try await b.get("/posts?select=id&limit=1")
            let refused = try await rest.send(.post, "/rpc/feed_fusion_home", json: [:])  // anon: 401
            #expect(refused.status == .unauthorized)
            let ids = [miss, hit, table, refused].compactMap { $0["X-Request-Id"] }
            #expect(Set(ids).count == 4)

            let seedSQL = "SELECT meta->>'cache_result', count(*)::int FROM rpc_observations WHERE created_at > now() - interval '1 hour' GROUP BY 1"
            var counts: [String: Int] = [:]
            let arrived = try await eventually(attempts: 100) {
                counts = try await database.withClient { client in
                    try await client.query(PostgresQuery(unsafeSQL: seedSQL)).decode((String, Int).self)
                        .reduce(into: [String: Int]()) { $0[$1.0] = $1.1 }
                }
                return counts.values.reduce(0, +) >= 4
            }
            #expect(arrived)
            // The 401 was refused before the cache was asked: a bypass, like the table read.
            #expect(counts == ["miss": 1, "hit": 1, "bypass": 2])

            let rows = try await database.withClient { client in
                try await client.query("""
                    SELECT request_id, fn, method, role, coalesce(user_id::text, ''), status::int, db_ms IS NOT NULL, coalesce(error_code, '')
                    FROM rpc_observations ORDER BY created_at
                    """).decode((String, String, String, String, String, Int, Bool, String).self).reduce(into: []) { $0.append($1) }
            }
            let byID = Dictionary(uniqueKeysWithValues: rows.map { ($0.0, $0) })
            let user = world.b.uuidString.lowercased()
            #expect(byID[ids[0]].map { [$0.1, $0.2, $0.3, $0.4] } == ["rpc/feed_fusion_home", "POST", "authenticated", user])
            #expect(byID[ids[0]]?.6 == true)   // a miss asked the database
            #expect(byID[ids[1]]?.6 == false)  // a hit did not
            #expect(byID[ids[2]]?.1 == "posts")
            #expect(byID[ids[3]].map { [$0.3, String($0.5)] } == ["anon", "401"])
            #expect(byID[ids[3]]?.7 == "42501")
        }
    }

    @Test("a stalled database makes observations drop (counted), never requests wait; they resume when it is back")
    func stalledDatabase() async throws {
        let token = "metrics-token-0123456789"
        try await RestWorld.run(configure: {
            Self.fastFlush(&$0)
            $0.observability.queueCapacity = 50
            $0.observability.batchSize = 10
            $0.observability.metricsToken = token
        }) { (rest: RestTestClient, _: RestWorld, database: TestDatabase) async throws in
            let maintenance = PostgresClient(configuration: .init(url: database.url, poolSize: 1), backgroundLogger: testLogger)
            try await withRunningClient(maintenance) { owner in
                try await owner.withConnection { locker in
                    // Every write to rpc_observations now waits for this transaction.
                    try await locker.query("BEGIN", logger: testLogger)
                    try await locker.query("LOCK TABLE public.rpc_observations IN ACCESS EXCLUSIVE MODE", logger: testLogger)
                    let started = ContinuousClock.now
                    for _ in 0..<200 { #expect(try await rest.get("/posts?select=id&limit=1").status == .ok) }
                    // 200 requests while the writer is stuck: none waited on it (generous bound for a loaded machine).
                    #expect(ContinuousClock.now - started < .seconds(20))
                    let text = try await rest.client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(token)"]) {
                        String(buffer: $0.body)
                    }
                    let dropped = text.split(separator: "\n").first { $0.hasPrefix(#"feedfusion_telemetry_dropped_total{queue="rpc_observations"}"#) }
                        .flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
                    #expect(dropped >= 100, "dropped \(dropped)")
                    try await locker.query("COMMIT", logger: testLogger)
                }
            }
            // Back: the rows that were queued are written.
            let written = try await eventually(attempts: 100) {
                try await database.withClient { client in
                    try await client.query("SELECT count(*)::int FROM rpc_observations WHERE fn = 'posts'").decode(Int.self).first { _ in true } ?? 0
                } >= 50
            }
            #expect(written)
        }
    }

    @Test("/metrics: refused without the token, Prometheus text with it")
    func metricsEndpoint() async throws {
        let token = "metrics-token-0123456789"
        try await RestWorld.run(configure: { $0.observability.metricsToken = token }) { (rest: RestTestClient, _: RestWorld, _: TestDatabase) async throws in
            _ = try await rest.send(.post, "/rpc/feed_fusion_profile", json: ["p_profile_id": UUID().uuidString])
            _ = try await rest.send(.post, "/rpc/feed_fusion_profile", json: ["p_profile_id": UUID().uuidString])
            let repeated = ["p_profile_id": UUID().uuidString]
            for _ in 0..<4 { _ = try await rest.send(.get, "/rpc/feed_fusion_profile?p_profile_id=\(repeated["p_profile_id"]!)") }
            func scrape(_ authorization: String?) async throws -> (HTTPResponse.Status, String) {
                var headers: HTTPFields = [:]
                if let authorization { headers[.authorization] = authorization }
                return try await rest.client.execute(uri: "/metrics", method: .get, headers: headers) {
                    ($0.status, String(buffer: $0.body))
                }
            }
            #expect(try await scrape(nil).0 == .unauthorized)
            #expect(try await scrape("Bearer wrong-token-wrong-token").0 == .unauthorized)
            let (status, text) = try await scrape("Bearer \(token)")
            #expect(status == .ok)
            #expect(text.contains(#"feedfusion_http_requests_total{route="/rest/v1/rpc/{function}",method="POST",status="200"} 2"#))
            #expect(text.contains(#"feedfusion_http_requests_total{route="/rest/v1/rpc/{function}",method="GET",status="200"} 4"#))
            #expect(text.contains(#"feedfusion_cache_requests_total{result="miss"} 3"#))
            // The share the feed read path is judged by: three hits of the repeated read needed no database.
            #expect(text.contains(#"feedfusion_cached_route_answers_total{database="none"} 3"#))
            #expect(text.contains(#"feedfusion_cached_route_answers_total{database="queried"} 3"#))
            for family in ["feedfusion_db_pool_connections", "feedfusion_db_connections", "feedfusion_telemetry_queue_depth", "process_open_fds", "feedfusion_cache_entries"] {
                #expect(text.contains("# TYPE \(family) gauge"), "missing \(family)")
            }
        }
        // Without a token the API port never serves metrics.
        try await RestWorld.run { (rest: RestTestClient, _: RestWorld, _: TestDatabase) async throws in
            let status = try await rest.client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer anything-at-all-here"]) { $0.status }
            #expect(status == .forbidden)
        }
    }

    @Test("refused requests are counted by policy")
    func rateLimitedMetric() async throws {
        let token = "metrics-token-0123456789"
        try await RestWorld.run(configure: {
            $0.observability.metricsToken = token
            $0.rateLimits.restPerMinute = 2
        }) { (rest: RestTestClient, _: RestWorld, _: TestDatabase) async throws in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<3 { statuses.append(try await rest.get("/posts?select=id").status) }
            #expect(statuses == [.ok, .ok, .tooManyRequests])
            let text = try await rest.client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(token)"]) {
                String(buffer: $0.body)
            }
            #expect(text.contains(#"feedfusion_rate_limited_requests_total{policy="default"} 1"#))
        }
    }

    @Test("METRICS_PORT serves /metrics on its own loopback port, the API port does not")
    func metricsPort() async throws {
        let port = try freeLoopbackPort()
        try await RestWorld.run(mode: .live, configure: { $0.observability.metricsPort = port }) { (rest: RestTestClient, _: RestWorld, _: TestDatabase) async throws in
            var text = ""
            for _ in 0..<50 where text.isEmpty {
                if let (data, response) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!),
                    (response as? HTTPURLResponse)?.statusCode == 200 {
                    text = String(decoding: data, as: UTF8.self)
                } else {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(text.contains("# TYPE process_open_fds gauge"))
            let onAPIPort = try await rest.client.execute(uri: "/metrics", method: .get, headers: [:]) { $0.status }
            #expect(onAPIPort == .forbidden)
        }
    }

    /// A local stand-in for Sentry: records each envelope and its auth header.
    final class SentryReceiver: Sendable {
        let envelopes = Mutex<[(auth: String, body: String)]>([])
    }

    @Test("an unexpected 5xx reaches error_events and the Sentry endpoint; its body carries only the request id")
    func errorTracking() async throws {
        let receiver = SentryReceiver()
        let port = try freeLoopbackPort()
        let router = Router()
        router.post("/api/42/envelope/") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 1 << 20)
            receiver.envelopes.withLock { $0.append((request.headers[.init("X-Sentry-Auth")!] ?? "", String(buffer: body))) }
            return .ok
        }
        let sentry = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        let running = Task { try await sentry.runService() }
        defer { running.cancel() }

        try await RestWorld.run(configure: {
            Self.fastFlush(&$0)
            $0.observability.sentryDSN = "http://public-key@127.0.0.1:\(port)/42"
        }) { (rest: RestTestClient, _: RestWorld, database: TestDatabase) async throws in
            // The injected failure: a function that fails the way a broken database does (XX000 → 500).
            let ready = try await createAndReload([
                "CREATE FUNCTION public.broken_feed() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk on fire' USING ERRCODE = 'XX000'; END $$",
                "GRANT EXECUTE ON FUNCTION public.broken_feed() TO anon",
            ], in: database) {
                try await rest.send(.post, "/rpc/broken_feed", json: [:]).status == .internalServerError
            }
            #expect(ready)
            let reply = try await rest.send(.post, "/rpc/broken_feed", json: [:])
            #expect(reply.status == .internalServerError)
            let requestID = try #require(reply["X-Request-Id"])
            #expect(reply.object["request_id"] as? String == requestID)

            let stored = try await eventually(attempts: 100) {
                try await database.withClient { client in
                    try await client.query("SELECT count(*)::int FROM error_events WHERE route = '/rest/v1/rpc/{function}' AND status = 500")
                        .decode(Int.self).first { _ in true } ?? 0
                } >= 1
            }
            #expect(stored)
            let fingerprints = try await database.withClient { client in
                try await client.query("SELECT count(DISTINCT fingerprint)::int FROM error_events").decode(Int.self).first { _ in true }
            }
            #expect(fingerprints == 1)  // one failure, however many times it happened

            #expect(try await eventually(attempts: 100) { !receiver.envelopes.withLock { $0.isEmpty } })
            let (auth, envelope) = try #require(receiver.envelopes.withLock { $0.first })
            #expect(auth.contains("sentry_key=public-key"))
            #expect(auth.contains("sentry_version=7"))
            let lines = envelope.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(lines.count == 3)
            let header = try #require(lines[0] ?? nil), item = try #require(lines[1] ?? nil), event = try #require(lines[2] ?? nil)
            #expect((header["event_id"] as? String)?.count == 32)
            #expect(header["event_id"] as? String == event["event_id"] as? String)
            #expect(item["type"] as? String == "event")
            #expect(item["length"] as? Int == envelope.split(separator: "\n")[2].utf8.count)
            #expect((event["tags"] as? [String: String])?["route"] == "/rest/v1/rpc/{function}")
            #expect(((event["exception"] as? [String: Any])?["values"] as? [[String: Any]])?.first?["type"] as? String == "HTTP 500")
        }
    }

    @Test("a request id from a trusted proxy is kept; anyone else's, or a malformed one, is replaced")
    func requestIDs() async throws {
        for trusted in [true, false] {
            try await RestWorld.run(mode: .live, configure: {
                $0.rateLimits.trustedProxies = trusted ? [NetworkRange("127.0.0.0/8")!, NetworkRange("::1")!] : []
            }) { (rest: RestTestClient, _: RestWorld, _: TestDatabase) async throws in
                let given = try await rest.send(.get, "/posts?select=id&limit=1", headers: ["X-Request-Id": "proxy-id-1"])
                #expect((given["X-Request-Id"] == "proxy-id-1") == trusted)
                let malformed = try await rest.send(.get, "/posts?select=id&limit=1", headers: ["X-Request-Id": String(repeating: "x", count: 200)])
                #expect(malformed["X-Request-Id"]?.count == 16)
            }
        }
    }
}
