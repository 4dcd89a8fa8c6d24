import Database
import Foundation
import Hummingbird
import Logging
import PostgresNIO

/// `GET /health` (the process answers) and `GET /ready` (the database answers and is migrated).
struct HealthController<Context: RequestContext>: Sendable {
    let client: PostgresClient
    let migrator: Migrator
    /// How long `/ready` waits for the database before calling it unreachable.
    let readinessTimeout: Duration

    func addRoutes(to router: some RouterMethods<Context>) {
        router.endpoint("/health", [.get: { _, _ in try jsonResponse(["status": "ok"]) }])
        router.endpoint("/ready", [.get: { _, context in try await ready(logger: context.logger) }])
    }

    private func ready(logger: Logger) async throws -> Response {
        switch await checkDatabase(logger: logger) {
        case .ready:
            return try jsonResponse(["status": "ready", "database": "ok"])
        case .pending(let count):
            return try jsonResponse(
                ["status": "not_ready", "database": "ok", "reason": "\(count) migration(s) pending"], status: .serviceUnavailable)
        case .unreachable(let reason):
            return try jsonResponse(
                ["status": "not_ready", "database": "unreachable", "reason": reason], status: .serviceUnavailable)
        }
    }

    private enum DatabaseState: Sendable {
        case ready
        case pending(Int)
        case unreachable(String)
    }

    private func checkDatabase(logger: Logger) async -> DatabaseState {
        let state = await withTimeout(readinessTimeout) { () async -> DatabaseState in
            do {
                let pending = try await migrator.pending(client: client, logger: logger)
                return pending.isEmpty ? .ready : .pending(pending.count)
            } catch let error as MigrationError {
                return .unreachable(error.description)
            } catch {
                return .unreachable("the database did not answer")
            }
        }
        return state ?? .unreachable("no answer within \(readinessTimeout)")
    }
}

/// A small JSON object response.
func jsonResponse(_ object: [String: String], status: HTTPResponse.Status = .ok) throws -> Response {
    jsonResponse(bytes: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), status: status)
}
