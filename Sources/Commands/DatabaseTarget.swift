import AppConfig
import Database
import Foundation
import Logging
import ManagedPostgres

/// The database a command works on: the configured `DATABASE_URL`, or the managed local cluster
/// (started here, and stopped by whoever holds this value).
struct DatabaseTarget {
    let url: DatabaseURL
    let managedServer: RunningPostgres?

    /// Name of the application database inside the managed cluster.
    static let managedDatabaseName = "feedfusion"

    static func open(_ settings: Settings, logger: Logger) async throws -> DatabaseTarget {
        if let url = settings.databaseURL {
            try await checkDatabaseReachable(url, logger: logger)
            return DatabaseTarget(url: url, managedServer: nil)
        }
        let cluster = LocalPostgresCluster(
            directory: settings.dataDirectory.appendingPathComponent("postgres"),
            binDirectory: settings.postgresBinDirectory)
        let server = try await cluster.start(logger: logger)
        do {
            let url = try await server.database(named: managedDatabaseName, logger: logger)
            return DatabaseTarget(url: url, managedServer: server)
        } catch {
            await server.stop()
            throw error
        }
    }

    func stopManagedServer() async {
        await managedServer?.stop()
    }
}
