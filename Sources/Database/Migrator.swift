import Logging
import PostgresNIO

/// Applies versioned SQL migrations, each in its own transaction, recorded with a checksum.
///
/// Several servers may start at once against one database: a session advisory lock makes them
/// take turns, and whoever comes second finds nothing left to do.
public struct Migrator: Sendable {
    public let migrations: [Migration]

    public init(migrations: [Migration]) {
        self.migrations = migrations
    }

    public static func bundled() throws -> Migrator {
        Migrator(migrations: try Migration.bundled())
    }

    /// An arbitrary fixed key for `pg_advisory_lock`, shared by every FeedFusion instance.
    static let lockKey: Int64 = 0x4665_6564_4675_73  // "FeedFus"

    /// Applies what is pending and returns the file names applied (empty when up to date).
    @discardableResult
    public func migrate(client: PostgresClient, logger: Logger) async throws -> [String] {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
            do {
                let applied = try await applyPending(on: connection, logger: logger)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
        }
    }

    /// Migrations not yet applied; throws when the database's history disagrees with this build.
    public func pending(client: PostgresClient, logger: Logger) async throws -> [Migration] {
        try await client.withConnection { connection in
            guard try await historyTableExists(on: connection, logger: logger) else { return migrations }
            return try await verifiedPending(on: connection, logger: logger)
        }
    }

    private func applyPending(on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        try await connection.query(
            """
            CREATE SCHEMA IF NOT EXISTS feedfusion;
            """, logger: logger)
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS feedfusion.schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, logger: logger)
        try await connection.query(
            "ALTER TABLE feedfusion.schema_migrations ENABLE ROW LEVEL SECURITY", logger: logger)
        var appliedNow: [String] = []
        for migration in try await verifiedPending(on: connection, logger: logger) {
            logger.info("applying migration", metadata: ["migration": "\(migration.fileName)"])
            try await apply(migration, on: connection, logger: logger)
            appliedNow.append(migration.fileName)
        }
        if !appliedNow.isEmpty {
            // Every instance's data API reloads its schema cache (see SchemaCacheListener).
            try await connection.query("SELECT pg_notify('feedfusion', 'reload schema')", logger: logger)
        }
        return appliedNow
    }

    private func historyTableExists(on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query(
            "SELECT to_regclass('feedfusion.schema_migrations') IS NOT NULL", logger: logger)
        for try await exists in rows.decode(Bool.self) { return exists }
        return false
    }

    private func verifiedPending(on connection: PostgresConnection, logger: Logger) async throws -> [Migration] {
        let rows = try await connection.query(
            "SELECT version, name, checksum FROM feedfusion.schema_migrations ORDER BY version", logger: logger)
        var appliedVersions = Set<Int>()
        for try await (version, name, checksum) in rows.decode((Int, String, String).self) {
            guard let known = migrations.first(where: { $0.version == version }) else {
                throw MigrationError(
                    "the database has migration \(version) (\(name)) that this build does not know; run a newer feedfusion")
            }
            guard known.checksum == checksum else {
                throw MigrationError(
                    "migration \(known.fileName) was edited after it was applied (checksum differs); "
                        + "restore the original file and put the change in a new migration")
            }
            appliedVersions.insert(version)
        }
        return migrations.filter { !appliedVersions.contains($0.version) }
    }

    private func apply(_ migration: Migration, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("BEGIN", logger: logger)
        do {
            for statement in SQLScript.statements(in: migration.sql) {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            try await connection.query(
                """
                INSERT INTO feedfusion.schema_migrations (version, name, checksum)
                VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                """, logger: logger)
            try await connection.query("COMMIT", logger: logger)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            let reason = (error as? PSQLError)?.summary ?? "\(error)"
            throw MigrationError("migration \(migration.fileName) failed: \(reason)")
        }
    }
}
