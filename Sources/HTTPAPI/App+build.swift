import AppConfig
import Auth
import DataAPI
import Dashboard
import WebApp
import Database
import FeedCache
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import Observability
import PostgresNIO
import Redis
import RateLimiting
import Realtime
import ServiceLifecycle

/// What the HTTP layer needs from the rest of the process.
public struct AppDependencies: Sendable {
    /// The request pool: connects as the authenticator role, which can only become the caller's role.
    public let client: PostgresClient
    /// The owner's pool: migrations, the listeners, telemetry maintenance, readiness (the same pool
    /// as `client` where no separate request role is set up, as in some tests).
    public let owner: PostgresClient
    public let migrator: Migrator
    public let callers: CallerResolver
    public let auth: AuthService
    public var data: DataAPIService
    /// Apply pending migrations before the server accepts requests.
    public let migrateBeforeServing: Bool
    public let readinessTimeout: Duration
    /// Request rate limits and the trusted proxies that may name the client address.
    public let rateLimits: RateLimitSettings
    /// The answer cache in front of the feed RPCs, and the HTTP caching headers' settings.
    public let cachedRPCs: CachedRPCs
    public let cacheSettings: CacheSettings
    /// Redis, when configured: rate limits and cached answers shared by every instance.
    public var redis: RedisClient?
    /// For what the request pipeline reports outside any request (e.g. Redis going away).
    public var logger = Logger(label: "feedfusion")
    /// Metrics, observations, error tracking, telemetry maintenance, request logs.
    public var telemetry: AppTelemetry
    /// The pool's most connections (reported on /metrics).
    public var databasePoolSize = 10
    /// The requests being answered, and the services running: a shutdown that runs out of time names them.
    public let inFlight = InFlightRequests()
    public let connections = OpenConnections()
    public let runningServices = RunningServices()
    /// `/realtime/v1` (nil when REALTIME_ENABLED=false).
    public var realtime: RealtimeEndpoint?
    /// The admin dashboard's pages and scripts, read once.
    public let dashboardAssets = DashboardAssets()
    public let webAppAssets = WebAppAssets()
    /// Builds a user's home window when their session starts (nil: the cache is off, or
    /// `CACHE_PREPARE_CONCURRENCY` is 0).
    public let homeWindows: HomeWindowPreparer?
    /// Computes the most-followed profiles' and entities' first pages at start (nil: the cache is
    /// off, or `CACHE_PRIME_PAGES` is 0).
    public let sharedPagePrimer: SharedPagePrimer?
    /// With Redis, read replicas learn every instance's writes through it.
    public var sharedWritePosition: (any SharedWritePosition)? { redis.map { RedisWritePosition(redis: $0) } }
    /// The settings the server was made from (the dashboard's Readiness page reports on them).
    public var settings: Settings?
    /// Clients refused by the rate limits lately (the dashboard's Limits page).
    public let limitedClients = LimitedClients()
    /// The rate limiters' clock (tests move it instead of sleeping).
    public var clock: @Sendable () -> ContinuousClock.Instant = { .now }
    /// Runs before each batch of the cache's home worker (pushes and merges after the writers were
    /// let go): a test slows it here to see that writers do not wait for it and readers do.
    public var beforeHomeWork: (@Sendable () async -> Void)?

    public init(
        client: PostgresClient, owner: PostgresClient? = nil, migrator: Migrator, callers: CallerResolver, auth: AuthService,
        data: DataAPIService, migrateBeforeServing: Bool, readinessTimeout: Duration = .seconds(2), rateLimits: RateLimitSettings = RateLimitSettings(),
        cacheSettings: CacheSettings = CacheSettings(), redis: RedisClient? = nil, telemetry: AppTelemetry? = nil
    ) {
        self.redis = redis
        // Without one given: the defaults, and no maintenance job (tests build many apps per database).
        self.telemetry = telemetry ?? AppTelemetry(
            settings: ObservabilitySettings(), client: client, owner: owner, logger: Logger(label: "feedfusion.telemetry"), runMaintenance: false)
        self.cacheSettings = cacheSettings
        let shared = redis.flatMap { redis in
            cacheSettings.enabled ? makeSharedCache(cacheSettings, redis: redis, logger: Logger(label: "feedfusion.cache")) : nil
        }
        cachedRPCs = CachedRPCs(
            cache: makeCache(cacheSettings, shared: shared), functions: cacheSettings.functions, enabled: cacheSettings.enabled,
            sharedPages: SharedPages(client: client, owner: owner ?? client, logger: logger))
        self.client = client
        self.owner = owner ?? client
        self.migrator = migrator
        self.callers = callers
        var data = data
        // The cache is corrected by NOTIFY after the fact; writes wait for it (read-your-writes).
        if cacheSettings.enabled { data.fences = WriteFences(channel: CacheInvalidationListener.channel, marker: CacheInvalidationListener.marker) }
        self.data = data
        var auth = auth
        if cacheSettings.enabled, cacheSettings.prepareConcurrency > 0, cacheSettings.functions.contains("feed_fusion_home") {
            let preparer = HomeWindowPreparer(
                cachedRPCs: cachedRPCs, service: data, callers: callers, concurrency: cacheSettings.prepareConcurrency,
                logger: Logger(label: "feedfusion.cache"))
            auth.sessionStarted = { preparer.sessionStarted($0) }
            homeWindows = preparer
        } else {
            homeWindows = nil
        }
        self.auth = auth
        if cacheSettings.enabled, cacheSettings.primePages > 0, let sharing = cachedRPCs.sharedPages,
            cacheSettings.functions.isSuperset(of: ["feed_fusion_profile", "feed_fusion_entity"])
        {
            sharedPagePrimer = SharedPagePrimer(
                cachedRPCs: cachedRPCs, service: data, owner: sharing.owner, fences: data.fences, pages: cacheSettings.primePages,
                logger: Logger(label: "feedfusion.cache"))
        } else {
            sharedPagePrimer = nil
        }
        self.migrateBeforeServing = migrateBeforeServing
        self.readinessTimeout = readinessTimeout
        self.rateLimits = rateLimits
        realtime = Self.makeRealtime(
            RealtimeSettings(), client: client, owner: owner ?? client, callers: callers, acquisitionTimeout: .seconds(2), logger: logger)
    }

    static func makeRealtime(
        _ settings: RealtimeSettings, client: PostgresClient, owner: PostgresClient, callers: CallerResolver, acquisitionTimeout: Duration,
        logger: Logger
    ) -> RealtimeEndpoint? {
        guard settings.enabled else { return nil }
        let hub = RealtimeHub(logger: logger)
        return RealtimeEndpoint(
            hub: hub, callers: callers,
            authorizer: ChannelAuthorizer(client: client, acquisitionTimeout: acquisitionTimeout, logger: logger),
            changes: ChangeFeed(hub: hub, owner: owner, requests: client, queueCapacity: settings.changeQueue, logger: logger),
            settings: settings, logger: logger)
    }

    /// Everything built from settings: the pool's client, the JWT secret, the auth service.
    public static func make(
        settings: Settings, client: PostgresClient, owner: PostgresClient? = nil, secret: String, migrateBeforeServing: Bool,
        logger: Logger
    ) async throws -> AppDependencies {
        let sessions = SessionGate(client: client, acquisitionTimeout: settings.poolAcquisitionTimeout, logger: logger)
        var auth = await AuthService(
            client: client, settings: settings.auth, secret: secret, externalURL: settings.externalURL, mail: settings.mail,
            acquisitionTimeout: settings.poolAcquisitionTimeout, logger: settings.logger(logger, module: "auth"))
        auth.sessions = sessions
        let redis = settings.redis.map { RedisClient(RedisClient.Configuration(endpoint: $0)) }
        if let redis {
            // Guesses spread over instances count against one budget.
            auth.failedSignIns = SharedRateLimiter(
                auth.failedSignIns.rate, redis: redis, prefix: "feedfusion:ratelimit:signin", logger: logger)
            auth.mailSends = SharedRateLimiter(auth.mailSends.rate, redis: redis, prefix: "feedfusion:ratelimit:mail", logger: logger)
        }
        var dependencies = AppDependencies(
            client: client, owner: owner, migrator: try Migrator.bundled(),
            callers: CallerResolver(verifier: await JWTVerifier(secret: secret), sessions: sessions),
            auth: auth,
            data: DataAPIService(
                client: client, store: SchemaCacheStore(schemas: settings.exposedSchemas), maxRows: settings.maxRows,
                maxResponseBytes: settings.maxResponseBytes, statementTimeoutMilliseconds: settings.statementTimeoutMilliseconds,
                acquisitionTimeout: settings.poolAcquisitionTimeout, logger: logger, admission: PoolAdmission(permits: settings.databasePoolSize)),
            migrateBeforeServing: migrateBeforeServing, rateLimits: settings.rateLimits,
            cacheSettings: settings.cache, redis: redis,
            telemetry: AppTelemetry(
                settings: settings.observability, client: client, owner: owner, logger: settings.logger(logger, module: "telemetry"),
                requestLogger: settings.logger(logger, module: "http")))
        dependencies.logger = logger
        dependencies.databasePoolSize = settings.databasePoolSize
        dependencies.settings = settings
        dependencies.realtime = makeRealtime(
            settings.realtime, client: client, owner: owner ?? client, callers: dependencies.callers,
            acquisitionTimeout: settings.poolAcquisitionTimeout,
            logger: settings.logger(logger, module: "realtime"))
        return dependencies
    }
}

/// The answer cache as configured. Stale answers stand in only for the database failing or being
/// slow — never for a request the database refused.
func makeCache(_ settings: CacheSettings, shared: SharedCache? = nil) -> ResponseCache {
    var configuration = ResponseCache.Configuration()
    configuration.ttl = .seconds(settings.ttlSeconds)
    configuration.staleLimit = .seconds(settings.staleSeconds)
    configuration.staleIfSlowerThan = .milliseconds(settings.staleIfSlowerMilliseconds)
    configuration.maxEntries = settings.maxEntries
    configuration.maxBytes = settings.maxMegabytes << 20
    configuration.beta = settings.xfetchBeta
    configuration.ttlJitter = settings.ttlJitter
    configuration.windowTTL = .seconds(settings.windowTTLSeconds)
    configuration.compress = { HTTPCaching.gzip($0) }
    return ResponseCache(configuration, mayServeStale: { error in
        switch error {
        case is CachedRPCs.NotCacheable: false
        case let error as DataAPIError: error.status >= 500
        case let error as APIError: error.status.code >= 500
        default: true
        }
    }, shared: shared)
}

/// The cache's second level in Redis, with the same TTL; bodies read from it are gzipped as computed ones are.
func makeSharedCache(_ settings: CacheSettings, redis: RedisClient, logger: Logger) -> SharedCache {
    var configuration = SharedCache.Configuration()
    configuration.ttl = .seconds(settings.ttlSeconds)
    return SharedCache(redis: redis, configuration: configuration, logger: logger, compress: HTTPCaching.gzip)
}

/// The application type `buildApplication` returns.
public typealias FeedFusionApplication = Application<RouterResponder<AppRequestContext>>

/// Builds the application: router, middleware, and the services it owns (the PostgreSQL pool,
/// plus any given, such as the managed PostgreSQL, which start first and stop last).
public func buildApplication(
    settings: Settings,
    dependencies: AppDependencies,
    services: [any Service] = [],
    logger: Logger
) -> FeedFusionApplication {
    let router = buildRouter(dependencies)
    var app = Application(
        router: router,
        server: httpServer(dependencies),
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "FeedFusion"),
        services: longLivedServices(settings: settings, dependencies: dependencies, services: services, logger: logger),
        logger: logger
    )
    let migrate = dependencies.migrateBeforeServing
    app.beforeServerStarts {
        if migrate {
            let applied = try await dependencies.migrator.migrate(client: dependencies.owner, logger: logger)
            logger.info("database is up to date", metadata: ["applied": "\(applied.count)"])
        }
        // The data API serves what the migrated catalog holds. If the database is away right now,
        // the first data-API request loads it instead; /ready reports the database meanwhile.
        let loaded: Void? = await withTimeout(.seconds(5)) {
            try await dependencies.data.store.reload(client: dependencies.owner, logger: logger)
        }
        if loaded == nil { logger.warning("schema cache not loaded at start; will load on first use") }
        dependencies.sharedPagePrimer?.schemaReady()
    }
    return app
}

/// The realtime home channel, fed by the cache's home fan-out.
struct RealtimeHomeFeeds: LiveHomeFeeds {
    let hub: RealtimeHub
    func liveViewers() -> Set<UUID> { hub.liveHomeViewers() }
    func deliver(_ item: String, toHomeOf viewer: UUID) { hub.deliverHomePost(item, to: viewer) }
}

/// HTTP/1.1, with `/realtime/v1/websocket` upgraded to a WebSocket. An upgrade the endpoint refuses
/// (bad `vsn`, no or bad `apikey`) is answered 400 by the upgrade handler; a plain GET of the path
/// reaches the router, which says what it expects.
func httpServer(_ dependencies: AppDependencies) -> HTTPServerBuilder {
    let connections = dependencies.connections
    guard let realtime = dependencies.realtime else { return .http1(additionalChannelHandlers: [connections.handler()]) }
    return .http1WebSocketUpgrade(
        configuration: .init(
            http1: .init(additionalChannelHandlers: [connections.handler()]),
            ws: .init(maxFrameSize: realtime.settings.maxPayloadBytes)),
        shouldUpgrade: { request, _, logger in
            guard let path = request.path,
                let handshake = await realtime.handshake(
                    path: String(path.prefix { $0 != "?" }), query: path.firstIndex(of: "?").map { String(path[path.index(after: $0)...]) })
            else { return .dontUpgrade }
            switch handshake {
            case .failure(let refused):
                logger.debug("realtime handshake refused", metadata: ["reason": "\(refused.reason)"])
                return .dontUpgrade
            case .success(let accepted):
                return .upgrade([:]) { inbound, outbound, _ in
                    try await realtime.serve(accepted, inbound: inbound, outbound: outbound)
                }
            }
        })
}

/// Everything that runs beside the HTTP server, in start order (they stop in reverse): the given
/// ones (the managed PostgreSQL), the pools, the listeners, telemetry; each reports to
/// `runningServices` so that a shutdown out of time can name what it still waits for.
func longLivedServices(settings: Settings, dependencies: AppDependencies, services: [any Service], logger: Logger) -> [any Service] {
    var all: [any Service] = services + [dependencies.client]
    if dependencies.owner !== dependencies.client { all.append(dependencies.owner) }
    all.append(SchemaCacheListener(
        client: dependencies.owner, store: dependencies.data.store,
        others: { [sessions = dependencies.callers.sessions, realtime = dependencies.realtime] in
            sessions?.apply($0)
            realtime?.apply(sessionAnnouncement: $0)
        },
        reconnected: { [sessions = dependencies.callers.sessions] in sessions?.forgetAll() }, logger: logger))
    if dependencies.cachedRPCs.enabled {
        var listener = CacheInvalidationListener(
            client: dependencies.owner, cache: dependencies.cachedRPCs.cache, fences: dependencies.data.fences,
            liveHomes: dependencies.realtime.map { RealtimeHomeFeeds(hub: $0.hub) }, logger: logger)
        if let replicas = dependencies.data.replicas { listener.beforeApplying = { await replicas.writeCommitted() } }
        listener.beforeHomeWork = dependencies.beforeHomeWork
        all.append(listener)
    }
    if let homeWindows = dependencies.homeWindows { all.append(homeWindows) }
    if let primer = dependencies.sharedPagePrimer { all.append(primer) }
    if let replicas = dependencies.data.replicas {
        all += replicas.replicas.map(\.client) as [any Service]
        all.append(ReplicaWatcher(replicas: replicas))
    }
    if let shared = dependencies.cachedRPCs.cache.shared {
        all.append(SharedCacheSubscriber(cache: dependencies.cachedRPCs.cache, shared: shared, logger: logger))
    }
    if let realtime = dependencies.realtime {
        all.append(realtime.hub)
        if let changes = realtime.changes { all.append(changes) }
    }
    all += dependencies.telemetry.services + metricsPortServices(settings: settings, dependencies: dependencies, logger: logger)
    return all.map { TrackedService(base: $0, registry: dependencies.runningServices) }
}

/// `/metrics` on its own port when `METRICS_PORT` is set (token required only when one is configured).
func metricsPortServices(settings: Settings, dependencies: AppDependencies, logger: Logger) -> [any Service] {
    guard let port = settings.observability.metricsPort else { return [] }
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: ErrorMiddleware(errors: nil))
    metricsController(dependencies, requireToken: settings.observability.metricsToken != nil).addRoutes(to: router)
    return [Application(
        router: router, configuration: .init(address: .hostname(settings.observability.metricsHost, port: port), serverName: "FeedFusion"),
        logger: logger)]
}

func metricsController(_ dependencies: AppDependencies, requireToken: Bool) -> MetricsController {
    MetricsController(
        telemetry: dependencies.telemetry, client: dependencies.client, cache: dependencies.cachedRPCs.cache,
        homeWindows: dependencies.homeWindows, primer: dependencies.sharedPagePrimer, admission: dependencies.data.admission, redis: dependencies.redis,
        fences: dependencies.data.fences, poolSize: dependencies.databasePoolSize, realtime: dependencies.realtime,
        replicas: dependencies.data.replicas, requireToken: requireToken)
}

/// The limit of one policy, or nil when limits are off. Each policy is its own budget per client;
/// `limitedError` is the 429 in the shape the route's clients expect.
func rateLimitMiddleware(
    _ dependencies: AppDependencies, policy: String, _ rate: RateLimit, limitedError: @escaping @Sendable (Int) -> APIError
) -> RateLimitMiddleware? {
    guard dependencies.rateLimits.enabled else { return nil }
    let limiter: any RequestLimiter = dependencies.redis.map {
        SharedRateLimiter(rate, redis: $0, prefix: "feedfusion:ratelimit:\(policy)", logger: dependencies.logger)
    } ?? RateLimiter(rate)
    return RateLimitMiddleware(
        policy: policy, limiter: limiter, clientAddress: ClientAddress(trustedProxies: dependencies.rateLimits.trustedProxies),
        callers: dependencies.callers, limitedError: limitedError, clock: dependencies.clock, limited: dependencies.limitedClients)
}

/// `/auth/v1`'s rate (sign-in attempts), under `policy`.
func authRateLimit(
    _ dependencies: AppDependencies, policy: String = "auth", limitedError: @escaping @Sendable (Int) -> APIError
) -> RateLimitMiddleware? {
    let limits = dependencies.rateLimits
    return rateLimitMiddleware(
        dependencies, policy: policy, RateLimit(limit: limits.authPerMinute, period: .seconds(60), burst: limits.authBurst),
        limitedError: limitedError)
}

/// `/rest/v1`'s rate (API calls), under `policy`.
func restRateLimit(
    _ dependencies: AppDependencies, policy: String, limitedError: @escaping @Sendable (Int) -> APIError
) -> RateLimitMiddleware? {
    let limits = dependencies.rateLimits
    return rateLimitMiddleware(
        dependencies, policy: policy, RateLimit(limit: limits.restPerMinute, period: .seconds(60), burst: limits.restBurst),
        limitedError: limitedError)
}

extension RouterGroup {
    /// Adds `middleware` when there is one (a limit that is switched off is nil).
    @discardableResult
    func add(optional middleware: (some RouterMiddleware<Context>)?) -> Self {
        if let middleware { add(middleware: middleware) }
        return self
    }
}

/// The router with every route of the product.
public func buildRouter(_ dependencies: AppDependencies) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: InFlightMiddleware(requests: dependencies.inFlight))
    router.add(middleware: TelemetryMiddleware(
        telemetry: dependencies.telemetry, clientAddress: ClientAddress(trustedProxies: dependencies.rateLimits.trustedProxies)))
    router.add(middleware: ErrorMiddleware(errors: dependencies.telemetry.errors))
    metricsController(dependencies, requireToken: true).addRoutes(to: router)
    HealthController(
        client: dependencies.owner, migrator: dependencies.migrator, readinessTimeout: dependencies.readinessTimeout
    ).addRoutes(to: router)

    let limits = dependencies.rateLimits
    let auth = router.group("/auth/v1")
        .add(middleware: SupabaseAPIVersionMiddleware())
        .add(optional: authRateLimit(dependencies) { retry in
            APIError(.tooManyRequests, code: "over_request_rate_limit", message: "Request rate limit reached; retry in \(retry) s")
        })
    auth.add(middleware: NoStoreMiddleware())
    auth.add(middleware: APIKeyMiddleware(callers: dependencies.callers, openPaths: ["/auth/v1/health", "GET /auth/v1/verify"]))
    AuthController(service: dependencies.auth, callers: dependencies.callers).addRoutes(to: auth)

    // PT429 is also what a database-side limit (`check_rate_limit`) answers: one code for clients to handle.
    let rest = router.group("/rest/v1")
        .add(optional: restRateLimit(dependencies, policy: "default") { retry in
            APIError(
                .tooManyRequests, code: "PT429", message: "Too many requests: retry in \(retry) s",
                hint: "at most \(limits.restPerMinute) requests per minute per client")
        })
    rest.add(middleware: CallerMiddleware(callers: dependencies.callers))
    RestController(
        service: dependencies.data, cachedRPCs: dependencies.cachedRPCs, caching: HTTPCaching(settings: dependencies.cacheSettings),
        telemetry: dependencies.telemetry
    ).addRoutes(to: rest)

    let tooMany: @Sendable (Int) -> APIError = { retry in
        APIError(.tooManyRequests, code: "too_many_requests", message: "Too many requests: retry in \(retry) s")
    }
    if let realtime = dependencies.realtime {
        // Counted with the data API's requests ("default"): one budget per client for HTTP writes.
        let api = router.group("/realtime/v1").add(optional: restRateLimit(dependencies, policy: "default", limitedError: tooMany))
        api.add(middleware: CallerMiddleware(callers: dependencies.callers))
        RealtimeController(realtime: realtime).addRoutes(to: api)
    }

    DashboardController(
        files: ShippedFiles(names: dependencies.dashboardAssets.names, asset: dependencies.dashboardAssets.asset(named:)), auth: dependencies.auth, callers: dependencies.callers, client: dependencies.client,
        cache: dependencies.cachedRPCs.cache, metrics: metricsController(dependencies, requireToken: true),
        acquisitionTimeout: dependencies.data.acquisitionTimeout,
        sentryDSN: dependencies.telemetry.settings.sentryDSN,
        owner: dependencies.owner, settings: dependencies.settings,
        limits: dependencies.rateLimits, limitedClients: dependencies.limitedClients, cacheSettings: dependencies.cacheSettings,
        sharedLimits: dependencies.redis != nil,
        sessionLimit: authRateLimit(dependencies) { retry in
            APIError(.tooManyRequests, code: "over_request_rate_limit", message: "Too many sign-in attempts; retry in \(retry) s")
        },
        apiLimit: restRateLimit(dependencies, policy: "admin", limitedError: tooMany),
        logger: dependencies.settings.map { $0.logger(dependencies.logger, module: "dashboard") } ?? dependencies.logger
    ).addRoutes(to: router)

    WebAppController(
        files: ShippedFiles(names: dependencies.webAppAssets.names, asset: dependencies.webAppAssets.asset(named:)),
        auth: dependencies.auth,
        sessionLimit: authRateLimit(dependencies, policy: "auth") { retry in
            APIError(.tooManyRequests, code: "over_request_rate_limit", message: "Too many attempts; retry in \(retry) s")
        },
        realtime: dependencies.realtime != nil
    ).addRoutes(to: router)

    // The WebSocket's path asked for without an upgrade (a browser, curl): what it expects instead.
    router.get("/realtime/v1/websocket") { _, _ -> Response in
        throw APIError(
            .upgradeRequired, code: "upgrade_required",
            message: "/realtime/v1/websocket is a WebSocket: connect with Upgrade: websocket, ?apikey=<key>&vsn=1.0.0 (or 2.0.0)",
            headers: [.upgrade: "websocket", .connection: "Upgrade"])
    }
    return router
}
