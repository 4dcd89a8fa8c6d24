import Logging
import PostgresNIO

/// The capacity half of `feedfusion verify`: connections against the server's limit, the pool
/// that will be opened, the statement timeout client roles run under, and the indexes the feeds
/// and their policies need.
public enum DatabaseAudit {
    /// Indexes the feed RPCs and RLS policies are planned on (a missing one means sequential scans
    /// at the seeded size).
    static let feedIndexes = [
        "posts_created_idx", "posts_author_created_idx", "posts_location_time_idx", "post_targets_entity_time_idx",
        "post_targets_profile_time_idx", "follows_followed_profile_idx", "follows_followed_entity_idx", "blocks_blocked_idx",
        "entities_location_idx", "usage_events_user_idx",
    ]

    public static func run(
        on connection: PostgresConnection, poolSize: Int, statementTimeoutMilliseconds: Int, logger: Logger
    ) async throws -> [ReadinessCheck] {
        var used = 0, limit = 0, reserved = 0
        let rows = try await connection.query("""
            SELECT (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend'),
                   current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int
            """, logger: logger)
        for try await (u, l, r) in rows.decode((Int, Int, Int).self) { (used, limit, reserved) = (u, l, r) }
        let available = limit - reserved
        let connections: ReadinessCheck
        if poolSize >= available {
            connections = ReadinessCheck(
                name: "database_connections", status: .fail,
                summary: "DB_POOL_SIZE \(poolSize) is not below the \(available) connections PostgreSQL allows clients")
        } else if Double(used) > 0.8 * Double(available) {
            connections = ReadinessCheck(
                name: "database_connections", status: .warn, summary: "\(used) of \(available) connections in use (over 80 %)")
        } else {
            connections = ReadinessCheck(
                name: "database_connections", status: .pass,
                summary: "\(used) of \(available) connections in use; the pool opens at most \(poolSize) per instance")
        }

        let timeout = statementTimeoutMilliseconds > 0
            ? ReadinessCheck(
                name: "statement_timeout", status: .pass,
                summary: "anon and authenticated requests run with statement_timeout \(statementTimeoutMilliseconds) ms (DB_STATEMENT_TIMEOUT_MS)")
            : ReadinessCheck(name: "statement_timeout", status: .fail, summary: "client requests run without a statement_timeout")

        let missing = try await strings(connection, logger, """
            SELECT name FROM unnest(\(feedIndexes)::text[]) AS name
            WHERE NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = name AND i.indisvalid)
            ORDER BY 1
            """)
        let indexes = ReadinessCheck.expectingNone(
            "feed_indexes", missing, passing: "the \(feedIndexes.count) indexes the feeds and policies are planned on exist and are valid",
            failing: "indexes missing or invalid (feeds would scan whole tables)")
        return [connections, timeout, indexes]
    }
}
