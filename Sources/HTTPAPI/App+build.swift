import AppConfig
import Auth
import Database
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle

/// What the HTTP layer needs from the rest of the process.
public struct AppDependencies: Sendable {
    public let client: PostgresClient
    public let migrator: Migrator
    public let callers: CallerResolver
    /// Apply pending migrations before the server accepts requests.
    public let migrateBeforeServing: Bool
    public let readinessTimeout: Duration

    public init(
        client: PostgresClient, migrator: Migrator, callers: CallerResolver,
        migrateBeforeServing: Bool, readinessTimeout: Duration = .seconds(2)
    ) {
        self.client = client
        self.migrator = migrator
        self.callers = callers
        self.migrateBeforeServing = migrateBeforeServing
        self.readinessTimeout = readinessTimeout
    }
}

/// Builds the application: router, middleware, and the services it owns (the PostgreSQL pool,
/// plus any given, such as the managed PostgreSQL, which start first and stop last).
public func buildApplication(
    settings: Settings,
    dependencies: AppDependencies,
    services: [any Service] = [],
    logger: Logger
) -> some ApplicationProtocol {
    let router = buildRouter(dependencies)
    var app = Application(
        router: router,
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "FeedFusion"),
        services: services + [dependencies.client],
        logger: logger
    )
    if dependencies.migrateBeforeServing {
        app.beforeServerStarts {
            let applied = try await dependencies.migrator.migrate(client: dependencies.client, logger: logger)
            logger.info("database is up to date", metadata: ["applied": "\(applied.count)"])
        }
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
    return router
}
