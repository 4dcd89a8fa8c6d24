import AppConfig
import ArgumentParser
import Auth
import Database
import DatabaseReadiness
import HTTPAPI
import Hummingbird
import Logging
import ManagedPostgres
import PostgresNIO
import ServiceLifecycle

/// `feedfusion serve`: the HTTP server, with the managed PostgreSQL when no DATABASE_URL is set.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the FeedFusion server (starts a local PostgreSQL unless DATABASE_URL is set).")

    @Flag(name: .customLong("no-migrate"), help: "Do not apply pending migrations on start.")
    var noMigrate = false

    func run() async throws {
        let settings = try await Settings.load()
        let logger = makeLogger(settings)
        let secret = try settings.resolvedJWTSecret()
        let database = try await DatabaseTarget.open(settings, logger: logger)
        do {
            // Requests run on the authenticator role; the owner's pool keeps migrations, listeners and maintenance.
            let requestURL = await RequestRole.requestURL(
                owner: database.url, configured: settings.databaseAuthenticatorURL, jwtSecret: secret, logger: logger)
            // Behind a transaction pooler (PgBouncer), requests send their fixed statements unnamed.
            let pooling = try? await PoolingAudit.probe(requests: requestURL, owner: database.url, logger: logger)
            let named = PoolingAudit.namedStatements(
                configured: settings.databasePreparedStatements, requests: pooling?.requests ?? .session)
            StatementMode.setNamedStatements(named)
            if let pooling, pooling.requests == .transaction || pooling.owner == .transaction {
                let check = PoolingAudit.check(pooling, configured: settings.databasePreparedStatements)
                logger.log(level: check.status == .fail ? .error : .notice, "\(check.summary)")
            }
            let client = PostgresClient(
                configuration: .init(url: requestURL, poolSize: settings.databasePoolSize), backgroundLogger: logger)
            // The owner's pool: two LISTEN sessions (control channel, cache), realtime's, and the rest for
            // telemetry, shared pages' facts and — without Redis — the cache's home and profile workers,
            // whose pushes and merges readers of held pages wait for (with Redis the home worker only
            // serves live homes, and the profile worker has nothing to do). The profile worker borrows
            // a connection for one short query a batch: no more are opened for it, so the server stays
            // within the 20 connections.
            let ownerPool = settings.redis == nil ? 5 : 4
            let owner = PostgresClient(configuration: .init(url: database.url, poolSize: ownerPool), backgroundLogger: logger)
            var dependencies = try await AppDependencies.make(
                settings: settings, client: client, owner: owner, secret: secret,
                migrateBeforeServing: settings.migrateOnStart && !noMigrate, logger: logger)
            if !settings.databaseReplicaURLs.isEmpty {
                // Each replica's server and database, with the request role's credentials unless the URL names its own.
                let replicas = settings.databaseReplicaURLs.enumerated().map { index, replica in
                    var url = requestURL
                    (url.host, url.port, url.database, url.tls) = (replica.host, replica.port, replica.database, replica.tls)
                    if replica.password != nil { (url.username, url.password) = (replica.username, replica.password) }
                    return ReadReplicas.Replica(
                        name: "replica-\(index + 1)",
                        client: PostgresClient(configuration: .init(url: url, poolSize: settings.databasePoolSize), backgroundLogger: logger))
                }
                dependencies.data.replicas = ReadReplicas(
                    primary: client, replicas: replicas, shared: dependencies.sharedWritePosition,
                    maxLag: .milliseconds(settings.replicaMaxLagMilliseconds), logger: logger)
            }
            let managed: [any Service] = database.managedServer.map { [ManagedPostgresService(server: $0, logger: logger)] } ?? []
            let app = buildApplication(settings: settings, dependencies: dependencies, services: managed, logger: logger)
            logger.info(
                "FeedFusion starting",
                metadata: [
                    "address": "http://\(settings.host):\(settings.port)", "database": "\(database.url.redacted)",
                    "requests_as": "\(requestURL.username)",
                ])
            // A shutdown is bounded (SHUTDOWN_TIMEOUT_SECONDS): past 60 % of it the group cancels what
            // still runs; past 80 % the watchdog logs what it waited for, stops PostgreSQL and exits.
            let timeout = Duration.seconds(settings.shutdownTimeoutSeconds)
            let watchdog = ShutdownWatchdog(
                timeout: timeout, inFlight: dependencies.inFlight, connections: dependencies.connections,
                services: dependencies.runningServices, logger: logger
            ) { await database.stopManagedServer() }
            var configuration = ServiceGroupConfiguration(
                services: [.init(service: app), .init(service: watchdog, successTerminationBehavior: .ignore)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            configuration.maximumGracefulShutdownDuration = timeout * 0.6
            try await ServiceGroup(configuration: configuration).run()
            let requests = dependencies.connections.requestTotals
            logger.info(
                "shutdown complete",
                metadata: [
                    "requests_read": "\(requests.read)", "requests_unanswered": "\(requests.read - requests.answered)",
                ])
        } catch {
            // The service group stops the managed server itself; this covers failures before or around it.
            await database.stopManagedServer()
            throw error
        }
        await database.stopManagedServer()
    }
}
