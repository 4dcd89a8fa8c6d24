import AppConfig
import Crypto
import Foundation
import Logging
import PostgresNIO

/// The login role requests run on, as PostgREST's `authenticator`: it holds no privileges of its own
/// (`NOINHERIT`, not a superuser, no `BYPASSRLS`) and can only `SET ROLE` to `anon`, `authenticated`
/// and `service_role` (granted by migration 0001). So a request can never do more than the role it
/// became may do, whatever SQL reached it. Migrations, maintenance and the listeners keep the
/// owner's connection (`DATABASE_URL` or the managed cluster's superuser).
///
/// No setting is needed: from the owner's URL the server gives `authenticator` a login and a password
/// derived from the JWT secret (so every instance sharing the secret agrees on it, as they agree on
/// tokens), and connects requests with it. `DATABASE_AUTHENTICATOR_URL` names a role of the
/// operator's own instead.
public enum RequestRole {
    public static let authenticator = "authenticator"

    /// The authenticator's password for a JWT secret: HMAC-SHA256 of a fixed label, hex.
    public static func password(jwtSecret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(
            for: Data("feedfusion authenticator password".utf8), using: SymmetricKey(data: Data(jwtSecret.utf8)))
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// The URL requests connect with: `configured` when given; otherwise the owner's server and
    /// database as `authenticator`, after giving that role its login and password through the
    /// owner's connection. When the owner may not do that (no CREATEROLE), requests fall back to the
    /// owner's URL with an error in the log, and `verify` fails on it.
    public static func requestURL(
        owner: DatabaseURL, configured: DatabaseURL?, jwtSecret: String, logger: Logger
    ) async -> DatabaseURL {
        if let configured { return configured }
        let password = password(jwtSecret: jwtSecret)
        let prepared = await withTimeout(.seconds(5)) { () async -> String? in
            do {
                let client = PostgresClient(configuration: .init(url: owner, poolSize: 1), backgroundLogger: logger)
                try await withRunningClient(client) { client in
                    try await client.withConnection { try await prepare(password: password, on: $0, logger: logger) }
                }
                return nil
            } catch {
                return String(reflecting: error)
            }
        }
        if prepared != .some(nil) {
            logger.error(
                "requests run as the database owner: the authenticator role could not be set up; give the owner CREATEROLE or set DATABASE_AUTHENTICATOR_URL",
                metadata: ["error": "\(prepared.flatMap { $0 } ?? "no answer within 5 s")"])
            return owner
        }
        var url = owner
        url.username = authenticator
        url.password = password
        return url
    }

    /// Creates `authenticator` when missing (a database before migration 0001) and gives it a login,
    /// `password`, and nothing else: no inheritance, no superuser, no BYPASSRLS.
    public static func prepare(password: String, on connection: PostgresConnection, logger: Logger) async throws {
        // ALTER ROLE takes no bound parameters: the password is hex we made, checked to be nothing else.
        precondition(password.allSatisfy(\.isHexDigit))
        try await connection.query(
            """
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN
                    CREATE ROLE authenticator LOGIN NOINHERIT;
                END IF;
            END
            $$
            """, logger: logger)
        try await connection.query(PostgresQuery(unsafeSQL: "ALTER ROLE authenticator WITH LOGIN PASSWORD '\(password)'"), logger: logger)
        // Taking a power away needs a superuser in PostgreSQL 15: only ask when there is one to take.
        let rows = try await connection.query(
            """
            SELECT rolsuper OR rolbypassrls OR rolinherit OR rolcreaterole OR rolcreatedb OR rolreplication
            FROM pg_roles WHERE rolname = 'authenticator'
            """, logger: logger)
        for try await excessive in rows.decode(Bool.self) where excessive {
            try await connection.query(
                "ALTER ROLE authenticator WITH NOINHERIT NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION", logger: logger)
        }
    }
}
