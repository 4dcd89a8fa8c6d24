import AppConfig
import ArgumentParser
import Database
import Foundation
import HTTPAPI
import Logging
import Observability
import PostgresNIO

/// `feedfusion maintenance`: creates the telemetry partitions ahead and enforces retention once,
/// as the server does on start and every `MAINTENANCE_INTERVAL_SECONDS`.
struct MaintenanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maintenance",
        abstract: "Create telemetry partitions ahead and drop what is past retention (once), then print what was done.")

    func run() async throws {
        let settings = try await Settings.load()
        let logger = makeLogger(settings)
        let database = try await DatabaseTarget.open(settings, logger: logger)
        let client = PostgresClient(configuration: .init(url: database.url, poolSize: 1), backgroundLogger: logger)
        let retention = TelemetryMaintenance.Retention(settings.observability)
        do {
            let result = try await withRunningClient(client) { client in
                try await TelemetryMaintenance(client: client, retention: retention, interval: .seconds(3600), errors: nil, logger: logger)
                    .runOnce()
            }
            print(result)
        } catch {
            await database.stopManagedServer()
            throw error
        }
        await database.stopManagedServer()
    }
}
