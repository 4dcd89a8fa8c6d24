import AppConfig
import Auth
import Database
import Foundation
import Logging
import ManagedPostgres
import PostgresNIO

func makeLogger(_ settings: Settings) -> Logger {
    LineLogHandler.json.store(settings.observability.logFormat == .json, ordering: .relaxed)
    var logger = Logger(label: "feedfusion")
    logger.logLevel = settings.logLevel
    return logger
}

/// The one line printed when a command fails: what went wrong and what to fix, no stack trace.
public func failureMessage(for error: any Error) -> String {
    switch error {
    case let error as SettingsError: return error.description
    case let error as ManagedPostgresError: return error.description
    case let error as DatabaseUnavailable: return error.description
    case let error as MigrationError: return error.description
    case let error as PSQLError: return "database error: \(error.summary)"
    default:
        let text = String(describing: error)
        return text.split(separator: "\n").first.map(String.init) ?? "unknown error"
    }
}

/// The project's `anon` and `service_role` keys, signed with the configured JWT secret.
func apiKeys(_ settings: Settings) async throws -> (anon: String, serviceRole: String) {
    let tokens = await TokenIssuer(
        secret: try settings.resolvedJWTSecret(), issuer: settings.externalURL + "/auth/v1",
        accessTokenLifetime: settings.auth.accessTokenLifetime)
    return (try await tokens.apiKey(role: .anon), try await tokens.apiKey(role: .serviceRole))
}
