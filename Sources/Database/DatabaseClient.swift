import AppConfig
import Logging
import PostgresNIO

extension PostgresClient.Configuration {
    /// Pool configuration for a database URL: `poolSize` caps the connections FeedFusion opens.
    public init(url: DatabaseURL, poolSize: Int) {
        let tls: PostgresClient.Configuration.TLS
        switch url.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        self.init(host: url.host, port: url.port, username: url.username, password: url.password, database: url.database, tls: tls)
        options.maximumConnections = poolSize
        options.minimumConnections = 0
        options.connectTimeout = .seconds(5)
        options.additionalStartupParameters = [("application_name", PoolUsage.applicationName)]
    }
}

/// The database cannot be used; the message names the URL (without password) and what to check.
public struct DatabaseUnavailable: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// Opens and closes one connection to prove the database is reachable with these credentials,
/// so that a wrong `DATABASE_URL` fails at start with one clear line instead of a retrying pool.
public func checkDatabaseReachable(_ url: DatabaseURL, logger: Logger) async throws {
    var configuration = PostgresConnection.Configuration(
        host: url.host, port: url.port, username: url.username, password: url.password, database: url.database,
        tls: url.tls == .disable ? .disable : .prefer(try .init(configuration: .makeClientConfiguration())))
    configuration.options.connectTimeout = .seconds(5)
    do {
        let connection = try await PostgresConnection.connect(
            on: PostgresClient.defaultEventLoopGroup.any(), configuration: configuration, id: 0, logger: logger)
        try await connection.close()
    } catch let error as PSQLError {
        let reason = error.serverInfo?[.message] ?? error.underlying.map { "\($0)" } ?? "\(error.code)"
        throw DatabaseUnavailable(description: "cannot connect to \(url.redacted): \(reason); check DATABASE_URL")
    } catch {
        throw DatabaseUnavailable(description: "cannot connect to \(url.redacted): \(error); check DATABASE_URL")
    }
}

extension PSQLError {
    /// The server's own message, or the client-side reason, without the query text or binds.
    public var summary: String {
        if let message = serverInfo?[.message] {
            let state = serverInfo?[.sqlState].map { " (\($0))" } ?? ""
            return message + state
        }
        return underlying.map { "\($0)" } ?? "\(code)"
    }
}

/// Runs `body` while `client`'s pool runs (PostgresClient needs `run()` to serve queries), then
/// shuts the pool down: for commands and tests that use the database without a service group.
public func withRunningClient<Result: Sendable>(
    _ client: PostgresClient, _ body: @Sendable (PostgresClient) async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}
