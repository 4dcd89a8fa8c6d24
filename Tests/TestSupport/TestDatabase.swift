import AppConfig
import Database
import Foundation
import Logging
import PostgresNIO

/// A database of its own for one test or suite, on the run's shared test cluster.
public struct TestDatabase: Sendable {
    public let url: DatabaseURL

    /// A fresh database with the whole schema migrated.
    public static func migrated() async throws -> TestDatabase {
        TestDatabase(url: try await TestCluster.shared.createDatabase(migrated: true))
    }

    /// The cluster's maintenance database (`postgres`), for what cannot run inside the database itself
    /// (e.g. refusing connections to it).
    public var maintenance: TestDatabase {
        var url = url
        url.database = "postgres"
        return TestDatabase(url: url)
    }

    /// A fresh database with nothing in it, for migration tests.
    public static func empty() async throws -> TestDatabase {
        TestDatabase(url: try await TestCluster.shared.createDatabase(migrated: false))
    }

    public var logger: Logger { testLogger }

    /// Runs `body` with a connection pool to this database, as the owner (a superuser).
    public func withClient<Result: Sendable>(
        poolSize: Int = 4, _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        let client = PostgresClient(configuration: .init(url: url, poolSize: poolSize), backgroundLogger: testLogger)
        return try await withRunningClient(client, body)
    }
}
