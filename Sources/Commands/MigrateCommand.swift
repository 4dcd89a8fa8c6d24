import AppConfig
import ArgumentParser
import Database
import Logging
import PostgresNIO

/// `feedfusion migrate`: applies pending migrations and exits; a second run changes nothing.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply pending database migrations.")

    func run() async throws {
        let settings = try await Settings.load()
        let logger = makeLogger(settings)
        let migrator = try Migrator.bundled()
        let database = try await DatabaseTarget.open(settings, logger: logger)
        let client = PostgresClient(configuration: .init(url: database.url, poolSize: 1), backgroundLogger: logger)
        do {
            let applied = try await withRunningClient(client) { client in
                try await migrator.migrate(client: client, logger: logger)
            }
            print(applied.isEmpty ? "database is up to date" : "applied \(applied.joined(separator: ", "))")
        } catch {
            await database.stopManagedServer()
            throw error
        }
        await database.stopManagedServer()
    }
}
