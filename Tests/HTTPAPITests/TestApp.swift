import AppConfig
import Auth
import Database
import Foundation
import HTTPAPI
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Redis
import TestSupport

/// The application as `serve` builds it, on a test database, with settings a test may adjust.
struct TestApp {
    static let secret = "feedfusion-test-secret-feedfusion-test-secret"

    let application: FeedFusionApplication
    let dependencies: AppDependencies
    let settings: Settings

    static func make(
        url: DatabaseURL, configure: (inout Settings) -> Void = { _ in }, adjust: (inout AppDependencies) -> Void = { _ in }
    ) async throws -> TestApp {
        var settings = Settings(port: 0, jwtSecret: secret)
        settings.databasePoolSize = 4
        // Fast hashing and no per-IP limit unless a test asks: the tests share one address.
        settings.auth.bcryptCost = 4
        settings.rateLimits.authPerMinute = 100_000
        settings.rateLimits.restPerMinute = 100_000
        // No pages computed at start unless a test asks: a test's first read is its own.
        settings.cache.primePages = 0
        configure(&settings)
        // As `serve` does: requests on the authenticator role, the listeners and maintenance on the owner.
        let requestURL = await RequestRole.requestURL(owner: url, configured: nil, jwtSecret: secret, logger: testLogger)
        let client = PostgresClient(configuration: .init(url: requestURL, poolSize: settings.databasePoolSize), backgroundLogger: testLogger)
        let owner = PostgresClient(configuration: .init(url: url, poolSize: 3), backgroundLogger: testLogger)
        var dependencies = try await AppDependencies.make(
            settings: settings, client: client, owner: owner, secret: secret, migrateBeforeServing: false, logger: testLogger)
        adjust(&dependencies)
        let application = buildApplication(settings: settings, dependencies: dependencies, logger: testLogger)
        return TestApp(application: application, dependencies: dependencies, settings: settings)
    }

    /// Runs `body` against the app (router mode) over a fresh database, with an auth client using the anon key.
    static func withAuth(
        configure: (inout Settings) -> Void = { _ in },
        _ body: @Sendable (AuthTestClient, TestApp, TestDatabase) async throws -> Void
    ) async throws {
        let database = try await TestDatabase.migrated()
        let app = try await TestApp.make(url: database.url, configure: configure)
        let key = try await app.apiKey(.anon)
        try await app.application.test(.router) { client in
            try await body(AuthTestClient(client: client, apiKey: key), app, database)
        }
    }

    /// Two server instances over one fresh database and one Redis, each with its own client (anon key),
    /// as a load balancer would spread requests over them.
    static func withTwoInstances(
        redis: TestRedis, configure: @escaping (inout Settings) -> Void = { _ in },
        _ body: @Sendable (RestTestClient, RestTestClient, TestDatabase) async throws -> Void
    ) async throws {
        let database = try await TestDatabase.migrated()
        let settings: (inout Settings) -> Void = {
            $0.redis = RedisEndpoint(url: redis.url)
            configure(&$0)
        }
        let first = try await TestApp.make(url: database.url, configure: settings)
        let second = try await TestApp.make(url: database.url, configure: settings)
        let key = try await first.apiKey(.anon)
        try await first.application.test(.router) { one in
            try await second.application.test(.router) { two in
                try await body(RestTestClient(client: one, apiKey: key), RestTestClient(client: two, apiKey: key), database)
            }
        }
    }

    /// The project's API keys, as `feedfusion keys` prints them.
    func apiKey(_ role: DatabaseRole) async throws -> String {
        try await dependencies.auth.tokens.apiKey(role: role)
    }
}
