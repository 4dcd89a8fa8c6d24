#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AppConfig
import Foundation
import Logging
import PostgresNIO

/// A started managed PostgreSQL: where to reach it, and how to stop it.
public final class RunningPostgres: Sendable {
    /// Superuser URL of the cluster's `postgres` database.
    public let url: DatabaseURL
    let process: ServerProcess

    init(url: DatabaseURL, process: ServerProcess) {
        self.url = url
        self.process = process
    }

    /// Fast shutdown (SIGINT: sessions are ended, data is flushed), escalating to an immediate
    /// shutdown if the server has not stopped after `timeout`.
    public func stop(timeout: Duration = .seconds(20)) async {
        process.signal(SIGINT)
        if await process.waitForExit(timeout: timeout) { return }
        process.signal(SIGQUIT)
        _ = await process.waitForExit(timeout: .seconds(5))
    }

    /// Stops the server at once, without waiting: for process-exit hooks.
    public func stopImmediately() {
        process.signal(SIGQUIT)
    }

    /// Waits until the server process ends (crash or stop); returns early when cancelled.
    public func waitForExit() async {
        _ = await process.waitForExit()
    }

    func acceptsConnections(logger: Logger) async -> Bool {
        do {
            let connection = try await PostgresConnection.connect(
                on: PostgresClient.defaultEventLoopGroup.any(),
                configuration: .init(
                    host: url.host, port: url.port, username: url.username, password: url.password,
                    database: url.database, tls: .disable),
                id: 0, logger: Logger(label: "feedfusion.postgres.probe", factory: { _ in SwiftLogNoOpLogHandler() }))
            try await connection.close()
            return true
        } catch {
            return false
        }
    }
}

extension RunningPostgres {
    /// The URL of database `name` in this cluster, creating the database when it does not exist yet.
    public func database(named name: String, template: String? = nil, logger: Logger) async throws -> DatabaseURL {
        let connection = try await PostgresConnection.connect(
            on: PostgresClient.defaultEventLoopGroup.any(),
            configuration: .init(
                host: url.host, port: url.port, username: url.username, password: url.password,
                database: url.database, tls: .disable),
            id: 0, logger: logger)
        do {
            let rows = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(name)", logger: logger)
            var exists = false
            for try await _ in rows { exists = true }
            if !exists {
                // CREATE DATABASE takes no bind parameters; the name is quoted as an identifier.
                let templateClause = template.map { " TEMPLATE " + quoteIdentifier($0) } ?? ""
                try await connection.query(
                    PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoteIdentifier(name))\(templateClause)"), logger: logger)
            }
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
        return url.with(database: name)
    }
}

/// Quotes an SQL identifier: doubles embedded quotes, wraps in double quotes.
public func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
