import Database
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
        return [connections, timeout, indexes, try await feedScans(on: connection, logger: logger)]
    }

    /// Tables the feeds read; a sequential scan of a large one (10,000 rows or more) is a missing plan.
    static let feedTables = ["posts", "post_targets", "follows", "blocks", "post_likes", "profiles"]
    /// Below this many posts the planner may rightly prefer scanning: nothing to judge.
    static let judgedSize = 10_000

    /// Runs each feed RPC once as the user who follows the most (in a transaction rolled back) and
    /// reads the tables' sequential-scan counters before and after: the plans inside the functions
    /// are not visible to EXPLAIN, their effects on the statistics are.
    static func feedScans(on connection: PostgresConnection, logger: Logger) async throws -> ReadinessCheck {
        let name = "feed_plans"
        let posts = try await connection.query("SELECT count(*)::int FROM public.posts", logger: logger)
            .decode(Int.self).first { _ in true } ?? 0
        guard posts >= judgedSize else {
            return ReadinessCheck(
                name: name, status: .warn, summary: "\(posts) posts: too few to judge the feed plans (seed the data set to check them)")
        }
        let viewer = try await connection.query("""
            SELECT follower_id::text FROM public.follows WHERE status = 'accepted' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1
            """, logger: logger).decode(String.self).first { _ in true }
        let entity = try await connection.query("""
            SELECT target_entity_id::text FROM public.post_targets WHERE target_entity_id IS NOT NULL
            GROUP BY 1 ORDER BY count(*) DESC LIMIT 1
            """, logger: logger).decode(String.self).first { _ in true }
        guard let viewer, let entity else {
            return ReadinessCheck(name: name, status: .warn, summary: "no follows or targeted posts to run the feeds with")
        }
        func scans() async throws -> [String: Int] {
            _ = try await connection.query("SELECT pg_stat_clear_snapshot()", logger: logger).collect()
            var counts: [String: Int] = [:]
            // A table small enough to fit a few pages is rightly scanned: only large ones are judged.
            let rows = try await connection.query("""
                SELECT s.relname::text, s.seq_scan::int FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
                WHERE s.schemaname = 'public' AND s.relname = ANY(\(feedTables)) AND c.reltuples >= \(judgedSize)
                """, logger: logger)
            for try await (table, count) in rows.decode((String, Int).self) { counts[table] = count }
            return counts
        }
        // The counting queries above scanned on purpose: their counts reach the statistics first.
        _ = try await connection.query("SELECT pg_stat_force_next_flush()", logger: logger).collect()
        let before = try await scans()
        let claims = #"{"sub":"\#(viewer)","role":"authenticated"}"#
        _ = try await connection.query("BEGIN", logger: logger).collect()
        do {
            _ = try await connection.query(
                "SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', \(claims), true)", logger: logger
            ).collect()
            for call: PostgresQuery in [
                "SELECT count(*) FROM public.feed_fusion_home(20, NULL)",
                "SELECT count(*) FROM public.feed_fusion_profile(\(viewer)::uuid, 20, NULL)",
                "SELECT count(*) FROM public.feed_fusion_entity(\(entity)::uuid, 20, NULL)",
                "SELECT count(*) FROM public.feed_fusion_nearby(48.8566, 2.3522, 5000, 20, NULL)",
            ] {
                _ = try await connection.query(call, logger: logger).collect()
            }
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger).collect()
            throw error
        }
        _ = try await connection.query("ROLLBACK", logger: logger).collect()
        // The backend's counters reach the shared statistics when it next goes idle; ask for it now.
        _ = try await connection.query("SELECT pg_stat_force_next_flush()", logger: logger).collect()
        let after = try await scans()
        let scanned = feedTables.filter { (after[$0] ?? 0) > (before[$0] ?? 0) }.map { "\($0): \((after[$0] ?? 0) - (before[$0] ?? 0)) sequential scan(s)" }
        return scanned.isEmpty
            ? ReadinessCheck(
                name: name, status: .pass,
                summary: "home, profile, entity and nearby feeds at \(posts) posts (as the user who follows the most) scan no table sequentially")
            : ReadinessCheck(name: name, status: .fail, summary: "feed RPCs scan tables sequentially at \(posts) posts", evidence: scanned)
    }
}
