import AppConfig
import Database
import Logging
import PostgresNIO

/// The part of the readiness report the configuration decides: sign-up and password rules, the
/// cache's stampede protection, mail, error tracking. Shared by `feedfusion verify` and the dashboard.
public enum ConfigurationAudit {
    public static func run(_ settings: Settings) -> [ReadinessCheck] {
        let auth = settings.auth
        let passwords = auth.passwordMinLength >= 8
            ? ReadinessCheck(
                name: "auth_policy", status: .pass,
                summary: "no anonymous sign-ins (not offered); passwords of at least \(auth.passwordMinLength) characters, "
                    + "the 20,000 most common passwords refused; bcrypt cost \(auth.bcryptCost)")
            : ReadinessCheck(
                name: "auth_policy", status: .fail, summary: "PASSWORD_MIN_LENGTH \(auth.passwordMinLength) is below 8")
        let cache = settings.cache.enabled
            ? ReadinessCheck(
                name: "feed_cache", status: .pass,
                summary: "feed cache on with single flight, early refresh and stale-on-failure (TTL \(settings.cache.ttlSeconds) s)")
            : ReadinessCheck(name: "feed_cache", status: .warn, summary: "CACHE_ENABLED=false: every feed request reaches the database")
        return [passwords, cache, mail(settings), errorTracking(settings)]
    }

    /// Recovery and confirmation mails need an SMTP server; without one they are only logged.
    public static func mail(_ settings: Settings) -> ReadinessCheck {
        let mail = settings.mail
        guard let host = mail.host else {
            return ReadinessCheck(
                name: "mail", status: settings.auth.emailConfirmationRequired ? .fail : .warn,
                summary: "SMTP_HOST is not set: password-recovery"
                    + (settings.auth.emailConfirmationRequired ? " and sign-up confirmation (EMAIL_CONFIRMATION_REQUIRED=true)" : "")
                    + " mails are written to the server log, not sent")
        }
        let plain = mail.security == .none && !["127.0.0.1", "::1", "localhost"].contains(host)
        return ReadinessCheck(
            name: "mail", status: plain ? .warn : .pass,
            summary: "mail through \(host):\(mail.port) (\(mail.security.rawValue))"
                + (plain ? ": SMTP_TLS=none to a host that is not loopback sends codes in the clear" : "")
                + "; codes work once, for \(mail.tokenLifetimeSeconds / 60) min, one mail per address and kind every \(mail.sendIntervalSeconds) s")
    }

    public static func errorTracking(_ settings: Settings) -> ReadinessCheck {
        settings.observability.sentryDSN == nil
            ? ReadinessCheck(
                name: "error_tracking", status: .warn,
                summary: "errors are kept in error_events only; set SENTRY_DSN to send them to Sentry")
            : ReadinessCheck(name: "error_tracking", status: .pass, summary: "errors go to error_events and to the Sentry DSN")
    }
}

/// The database's half of the readiness report: its security rules, capacity and telemetry, read
/// from the catalog as it is now (`verify`, and the dashboard's Readiness page).
public enum DatabaseReadiness {
    public static func run(on connection: PostgresConnection, settings: Settings, logger: Logger) async throws -> [ReadinessCheck] {
        try await SecurityAudit.run(on: connection, schemas: settings.exposedSchemas, logger: logger)
            + DatabaseAudit.run(
                on: connection, poolSize: settings.databasePoolSize,
                statementTimeoutMilliseconds: settings.statementTimeoutMilliseconds, logger: logger)
            + TelemetryAudit.run(on: connection, logger: logger)
    }
}
