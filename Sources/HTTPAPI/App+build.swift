import AppConfig
import Auth
import DataAPI
import Database
import Hummingbird
import Logging
import PostgresNIO
import RateLimiting
import ServiceLifecycle

/// What the HTTP layer needs from the rest of the process.
public struct AppDependencies: Sendable {
    public let client: PostgresClient
    public let migrator: Migrator
    public let callers: CallerResolver
    public let auth: AuthService
    public let data: DataAPIService
    /// Apply pending migrations before the server accepts requests.
    public let migrateBeforeServing: Bool
    public let readinessTimeout: Duration
    /// Key rate limits on the first `X-Forwarded-For` address (only behind a trusted proxy).
    public let trustForwardedFor: Bool

    public init(
        client: PostgresClient, migrator: Migrator, callers: CallerResolver, auth: AuthService, data: DataAPIService,
        migrateBeforeServing: Bool, readinessTimeout: Duration = .seconds(2), trustForwardedFor: Bool = false
    ) {
        self.client = client
        self.migrator = migrator
        self.callers = callers
        self.auth = auth
        self.data = data
        self.migrateBeforeServing = migrateBeforeServing
        self.readinessTimeout = readinessTimeout
        self.trustForwardedFor = trustForwardedFor
    }

    /// Everything built from settings: the pool's client, the JWT secret, the auth service.
    public static func make(
        settings: Settings, client: PostgresClient, secret: String, migrateBeforeServing: Bool, logger: Logger
    ) async throws -> AppDependencies {
        AppDependencies(
            client: client, migrator: try Migrator.bundled(),
            callers: CallerResolver(verifier: await JWTVerifier(secret: secret)),
            auth: await AuthService(
                client: client, settings: settings.auth, secret: secret, externalURL: settings.externalURL, logger: logger),
            data: DataAPIService(
                client: client, store: SchemaCacheStore(schemas: settings.exposedSchemas), maxRows: settings.maxRows,
                statementTimeoutMilliseconds: settings.statementTimeoutMilliseconds, logger: logger),
            migrateBeforeServing: migrateBeforeServing, trustForwardedFor: settings.trustForwardedFor)
    }
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
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "FeedFusion"),
        services: services + [
            dependencies.client,
            SchemaCacheListener(client: dependencies.client, store: dependencies.data.store, logger: logger),
        ],
        logger: logger
    )
    let migrate = dependencies.migrateBeforeServing
    app.beforeServerStarts {
        if migrate {
            let applied = try await dependencies.migrator.migrate(client: dependencies.client, logger: logger)
            logger.info("database is up to date", metadata: ["applied": "\(applied.count)"])
        }
        // The data API serves what the migrated catalog holds. If the database is away right now,
        // the first data-API request loads it instead; /ready reports the database meanwhile.
        let loaded = await withTimeout(.seconds(5)) {
            try await dependencies.data.store.reload(client: dependencies.client, logger: logger)
        }
        if loaded == nil { logger.warning("schema cache not loaded at start; will load on first use") }
    }
    return app
}

/// The router with every route of the product.
public func buildRouter(_ dependencies: AppDependencies) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    HealthController(
        client: dependencies.client, migrator: dependencies.migrator, readinessTimeout: dependencies.readinessTimeout
    ).addRoutes(to: router)

    let auth = router.group("/auth/v1")
        .add(middleware: SupabaseAPIVersionMiddleware())
        .add(middleware: RateLimitMiddleware(
            limiter: RateLimiter(RateLimit(limit: dependencies.auth.settings.requestsPerMinutePerIP, period: .seconds(60))),
            trustForwardedFor: dependencies.trustForwardedFor,
            limitedError: APIError(.tooManyRequests, code: "over_request_rate_limit", message: "Request rate limit reached")))
        .add(middleware: APIKeyMiddleware(callers: dependencies.callers, openPaths: ["/auth/v1/health"]))
    AuthController(service: dependencies.auth, callers: dependencies.callers).addRoutes(to: auth)

    let rest = router.group("/rest/v1")
        .add(middleware: CallerMiddleware(callers: dependencies.callers))
    RestController(service: dependencies.data).addRoutes(to: rest)
    return router
}
