import AppConfig
import Auth
import Dashboard
import Database
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
    let assets: DashboardAssets
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
        let admin = router.group("/admin").add(middleware: DashboardHeadersMiddleware())
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
        let session = admin.group("/session")
        if let sessionLimit { session.add(middleware: sessionLimit) }
        session.post("/") { request, context in try await signIn(request, context) }
        session.post("/refresh") { request, context in try await refresh(request, context) }
        session.post("/sign-out") { request, context in try await signOut(request, context) }
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

    func page(_ name: String, _ request: Request) throws -> Response {
        guard let asset = assets.asset(named: name) else { throw APIError.notFound(path: request.uri.path) }
        var headers: HTTPFields = [
            .contentType: asset.contentType, .eTag: asset.etag,
            // Revalidated every time (a 304 when unchanged): a new server's pages are seen at once.
            .cacheControl: "no-cache",
        ]
        if request.headers[.ifNoneMatch] == asset.etag {
            headers[.contentType] = nil
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }

    // MARK: - Session

    struct SignedIn: Encodable {
        let access_token: String
        let expires_in: Int
        let user: User
        struct User: Encodable {
            let id: String
            let email: String
        }
    }

    /// Email and password → an admin's session: the refresh token into the cookie, the access token
    /// to the page. An account that is not an admin is refused, and the session just made for it ended.
    func signIn(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        try requireSameOrigin(request)
        let body = try await request.decodeJSON(as: PasswordGrantRequest.self, code: "validation_failed", emptyMeansEmptyObject: false)
        let session: AuthSession
        do {
            session = try await auth.signIn(body)
        } catch let error as AuthError {
            throw APIError(HTTPResponse.Status(code: error.status), code: error.code, message: error.message)
        } catch {
            throw APIError.databaseUnavailable
        }
        guard try await isAdmin(accessToken: session.accessToken) else {
            try? await auth.logout(accessToken: session.accessToken, scope: .local)
            throw APIError(
                .forbidden, code: "not_admin",
                message: "This account is not an admin. The dashboard is for accounts whose app_metadata.role is admin.")
        }
        return try signedIn(session, request)
    }

    /// The cookie's refresh token → a fresh access token (and a rotated cookie). No cookie, a used or
    /// revoked one, or an account that is no longer an admin: 401 and the cookie cleared.
    func refresh(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        try requireSameOrigin(request)
        guard let token = AdminSessionCookie.value(in: request.headers[.cookie]) else {
            throw signedOut(request, "Sign in to use the dashboard.")
        }
        let session: AuthSession
        do {
            let grant = try JSONDecoder().decode(RefreshGrantRequest.self, from: JSONEncoder().encode(["refresh_token": token]))
            session = try await auth.refresh(grant)
        } catch is AuthError {
            throw signedOut(request, "The dashboard session ended; sign in again.")
        } catch {
            // The database away: the session may well be fine; the page says so and offers a retry.
            throw APIError.databaseUnavailable
        }
        guard try await isAdmin(accessToken: session.accessToken) else {
            try? await auth.logout(accessToken: session.accessToken, scope: .local)
            throw signedOut(request, "This account is no longer an admin.")
        }
        return try signedIn(session, request)
    }

    /// Ends the dashboard's session (its refresh token and every access token of it) and clears the cookie.
    func signOut(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        try requireSameOrigin(request)
        if let token = request.headers[.authorization].flatMap(bearerCredentials)?.trimmingSpaces {
            try? await auth.logout(accessToken: token, scope: .local)
        }
        return Response(status: .noContent, headers: [.setCookie: AdminSessionCookie.clear(secure: isHTTPS(request))])
    }

    func signedIn(_ session: AuthSession, _ request: Request) throws -> Response {
        let user = (try? JSONValue(jsonText: session.userJSON).objectValue) ?? [:]
        let body = SignedIn(
            access_token: session.accessToken, expires_in: session.expiresIn,
            user: .init(id: user["id"].flatMap { if case .string(let id) = $0 { id } else { nil } } ?? "",
                        email: user["email"].flatMap { if case .string(let email) = $0 { email } else { nil } } ?? ""))
        // The cookie lives as long as a refresh token may go unused (a week): the dashboard asks for
        // a fresh access token every few minutes while open, rotating it each time.
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/json; charset=utf-8",
                .setCookie: AdminSessionCookie.set(session.refreshToken, maxAge: 7 * 24 * 3600, secure: isHTTPS(request)),
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(body))))
    }

    func signedOut(_ request: Request, _ message: String) -> APIError {
        APIError(.unauthorized, code: "signed_out", message: message, headers: [.setCookie: AdminSessionCookie.clear(secure: isHTTPS(request))])
    }

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
            return try await client.withCaller(caller, readOnly: true, acquisitionTimeout: acquisitionTimeout, logger: logger) {
                connection in
                try await connection.query("SELECT public.is_admin()", logger: logger)
                    .decode(Bool.self).first { _ in true } ?? false
            }
        } catch {
            throw APIError.databaseUnavailable
        }
    }

    /// A state-changing request must come from the dashboard's own pages: its header (which another
    /// site cannot send) and, when the browser says where it comes from, this origin.
    func requireSameOrigin(_ request: Request) throws {
        guard request.headers[HTTPField.Name(AdminSessionCookie.csrfHeader)!] == "1" else {
            throw APIError(.forbidden, code: "csrf", message: "Dashboard actions must come from the dashboard's pages (\(AdminSessionCookie.csrfHeader): 1).")
        }
        if let origin = request.headers[.origin], let authority = request.head.authority,
            URL(string: origin).map({ url in url.host.map { authority == $0 || authority == "\($0):\(url.port ?? 80)" } ?? false }) != true
        {
            throw APIError(.forbidden, code: "csrf", message: "Dashboard actions must come from the dashboard's own origin.")
        }
    }

    /// Whether the browser reached us over HTTPS: directly, or through a proxy that says so (the
    /// header can only add `Secure` to the cookie, which never weakens it).
    func isHTTPS(_ request: Request) -> Bool {
        if request.head.scheme == "https" { return true }
        return request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
    }
}

/// Security headers on every dashboard response.
struct DashboardHeadersMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = ErrorBody.response(for: error, path: request.uri.path)
        }
        response.headers[.contentSecurityPolicy] = DashboardAssets.contentSecurityPolicy
        response.headers[.xFrameOptions] = "DENY"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "no-referrer"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

extension HTTPField.Name {
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
