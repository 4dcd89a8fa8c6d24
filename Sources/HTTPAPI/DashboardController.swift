import AppConfig
import Auth
import Dashboard
import Database
import DatabaseReadiness
import FeedCache
import Foundation
import HTTPTypes
import Hummingbird
import PostgresNIO
import RateLimiting

/// `/admin`: the operator's dashboard. The pages are static files shipped with the server; what
/// they show comes from the admin RPCs on `/rest/v1` (each checked by the database's `is_admin()`),
/// from the session endpoints here, and from `/admin/api` for what only the server knows (its
/// metrics, its cache). Every response carries a strict Content-Security-Policy and may not be framed.
struct DashboardController {
    let files: ShippedFiles
    let auth: AuthService
    let callers: CallerResolver
    let client: PostgresClient
    let cache: ResponseCache
    let metrics: MetricsController
    let acquisitionTimeout: Duration
    /// Where errors are reported besides error_events (for links to Sentry; never shown).
    var sentryDSN: String?
    /// The owner's connection, which reads the catalog for the readiness checks.
    var owner: PostgresClient?
    var settings: Settings?
    var limits = RateLimitSettings()
    var limitedClients: LimitedClients?
    var cacheSettings = CacheSettings()
    /// Whether the limits (and the cache) are shared through Redis.
    var sharedLimits = false
    /// The sign-in limit (`/auth/v1`'s policy): guessing passwords here is no cheaper than there.
    var sessionLimit: RateLimitMiddleware?
    /// The limit on `/admin/api` (its own policy, `/rest/v1`'s rate): each call asks the database
    /// whether the caller is an admin, which a signed-in non-admin must not be able to repeat freely.
    var apiLimit: RateLimitMiddleware?
    var logger = Logger(label: "feedfusion.dashboard")

    func addRoutes(to router: Router<AppRequestContext>) {
        let admin = router.group("/admin").add(middleware: PageSecurityHeadersMiddleware())
        admin.get("/sign-in") { request, _ in try page("sign-in.html", request) }
        for each in DashboardAssets.pages {
            admin.get(each.path.isEmpty ? "/" : RouterPath(each.path)) { request, _ in try page("\(each.name).html", request) }
        }
        admin.get("/assets/:file") { request, context in
            guard let name = context.parameters.get("file"), name.contains("."), !name.hasSuffix(".html") else {
                throw APIError.notFound(path: request.uri.path)
            }
            return try page(name, request)
        }
        session.addRoutes(to: admin.group("/session").add(optional: sessionLimit), passwords: true)
        let api = admin.group("/api")
        if let apiLimit { api.add(middleware: apiLimit) }
        api.get("/metrics") { request, context in
            _ = try await requireAdmin(request)
            return try await metrics.scrape(request, authorized: true)
        }
        api.post("/cache/flush") { request, context in try await flushCache(request) }
        api.get("/readiness") { request, context in try await readiness(request) }
        api.get("/limits") { request, context in try await limitsAndCache(request) }
        api.get("/config") { request, context -> Response in
            _ = try await requireAdmin(request)
            // What the pages need to know of the server's configuration (never a secret).
            let sentry = SentryLink.issues(dsn: sentryDSN).map { #""\#($0)""# } ?? "null"
            return Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"sentry_issues":\#(sentry)}"#)))
        }
    }

    // MARK: - Pages

    func page(_ name: String, _ request: Request) throws -> Response { try files.response(name, request) }

    // MARK: - Session

    /// The dashboard's session: email and password, for admins only (checked again at every refresh).
    var session: BrowserSession {
        BrowserSession(
            cookie: .admin, auth: auth,
            admit: { [self] accessToken in
                try await isAdmin(accessToken: accessToken)
                    ? nil
                    : APIError(
                        .forbidden, code: "not_admin",
                        message: "This account is not an admin. The dashboard is for accounts whose app_metadata.role is admin.")
            },
            signInFirst: "Sign in to use the dashboard.", sessionEnded: "The dashboard session ended; sign in again.")
    }

    func requireSameOrigin(_ request: Request) throws { try session.requireSameOrigin(request) }

    // MARK: - Server actions

    /// The cache flush: the database checks and logs it first (`admin_record_action`), then it happens.
    func flushCache(_ request: Request) async throws -> Response {
        try requireSameOrigin(request)
        let caller = try await requireAdmin(request)
        let entries = cache.statistics.entries
        _ = try await client.withCaller(caller, acquisitionTimeout: acquisitionTimeout, logger: logger) { connection in
            try await connection.query(
                "SELECT public.admin_record_action('flush_cache', jsonb_build_object('entries', \(entries)::int))",
                logger: logger)
        }
        await cache.invalidateAllEverywhere()
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: #"{"flushed":\#(entries)}"#)))
    }

    // MARK: - Limits and cache

    struct LimitsReport: Encodable {
        struct Policy: Encodable {
            let per_minute: Int
            let burst: Int?
        }
        struct Cache: Encodable {
            let enabled: Bool
            let entries, bytes, max_entries, max_bytes, ttl_seconds: Int
            let hits, misses, stale, coalesced, evictions, invalidations: Int
            let shared: Bool
        }
        let enabled: Bool
        let shared: Bool
        let rest: Policy
        let auth: Policy
        let trusted_proxies: [String]
        let limited: [LimitedClients.Client]
        let cache: Cache
    }

    /// The configured limits, who was refused lately, and the cache's size and hit counts: all from
    /// memory, no database query.
    func limitsAndCache(_ request: Request) async throws -> Response {
        _ = try await requireAdmin(request)
        let stats = cache.statistics
        let report = LimitsReport(
            enabled: limits.enabled, shared: sharedLimits,
            rest: .init(per_minute: limits.restPerMinute, burst: limits.restBurst),
            auth: .init(per_minute: limits.authPerMinute, burst: limits.authBurst),
            trusted_proxies: limits.trustedProxies.map { "\($0)" },
            limited: limitedClients?.top(20) ?? [],
            cache: .init(
                enabled: cacheSettings.enabled, entries: stats.entries, bytes: stats.bytes, max_entries: cacheSettings.maxEntries,
                max_bytes: cacheSettings.maxMegabytes << 20, ttl_seconds: cacheSettings.ttlSeconds, hits: stats.hits, misses: stats.misses,
                stale: stats.stale, coalesced: stats.coalesced, evictions: stats.evictions, invalidations: stats.invalidations,
                shared: cache.shared != nil))
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(report))))
    }

    // MARK: - Readiness

    struct ReadinessReport: Encodable {
        let ok: Bool
        let checks: [ReadinessCheck]
        /// The last `feedfusion loadtest` run's figures, as it wrote them, and when.
        let loadtest: JSONValue?
        let loadtest_at: String?
    }

    /// `verify`'s database and configuration checks, run now, and the last load test's summary.
    /// (The request-role and live-limit probes are `verify`'s own: they need connections and
    /// requests of their own.) The catalog reads take a few milliseconds and run only when asked.
    func readiness(_ request: Request) async throws -> Response {
        _ = try await requireAdmin(request)
        var checks: [ReadinessCheck] = []
        if let settings {
            do {
                checks = try await (owner ?? client).withConnection { connection in
                    try await DatabaseReadiness.run(on: connection, settings: settings, logger: logger)
                }
            } catch {
                throw APIError.databaseUnavailable
            }
            checks += ConfigurationAudit.run(settings)
        }
        var loadtest: JSONValue?
        var loadtestAt: String?
        if let file = settings?.lastLoadTestSummary,
            let attributes = try? FileManager.default.attributesOfItem(atPath: file.path),
            (attributes[.size] as? Int ?? .max) < 1 << 20,
            let data = FileManager.default.contents(atPath: file.path)
        {
            loadtest = try? JSONValue(jsonText: String(decoding: data, as: UTF8.self))
            loadtestAt = (attributes[.modificationDate] as? Date).map { ISO8601DateFormatter().string(from: $0) }
        }
        let report = ReadinessReport(ok: !checks.contains { $0.status == .fail }, checks: checks, loadtest: loadtest, loadtest_at: loadtestAt)
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(report))))
    }

    // MARK: - Checks

    /// The request's bearer token, when the database says its user is an admin; else 401 / 403.
    func requireAdmin(_ request: Request) async throws -> Caller {
        let caller: Caller
        do {
            caller = try await callers.caller(authorization: request.headers[.authorization], apikey: nil)
        } catch {
            throw APIError(.unauthorized, code: "signed_out", message: "Sign in to use the dashboard.")
        }
        guard caller.role == .authenticated, try await isAdmin(caller) else {
            throw APIError(.forbidden, code: "not_admin", message: "Only admins may use the dashboard.")
        }
        return caller
    }

    func isAdmin(accessToken: String) async throws -> Bool {
        guard let caller = try? await callers.caller(authorization: "Bearer " + accessToken, apikey: nil) else { return false }
        return try await isAdmin(caller)
    }

    /// `public.is_admin()` as the caller: the database decides, as it does for every admin RPC.
    func isAdmin(_ caller: Caller) async throws -> Bool {
        do {
            return try await DatabaseFault.retryingRead(logger: logger) { [client, acquisitionTimeout, logger] in
                try await client.withCaller(caller, readOnly: true, acquisitionTimeout: acquisitionTimeout, logger: logger) {
                    connection in
                    try await connection.query("SELECT public.is_admin()", logger: logger)
                        .decode(Bool.self).first { _ in true } ?? false
                }
            }
        } catch {
            throw APIError.databaseUnavailable
        }
    }
}
