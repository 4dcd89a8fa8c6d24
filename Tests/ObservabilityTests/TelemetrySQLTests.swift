import Database
import Foundation
import PostgresNIO
import Testing
import TestSupport
@testable import Observability

/// The telemetry tables and functions in PostgreSQL: who may write and read what, validation,
/// monthly partitions and retention.
@Suite("Telemetry in the database")
struct TelemetrySQLTests {
    func sqlState(_ body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch let error as PSQLError {
            return error.serverInfo?[.sqlState]
        } catch {
            return "not a database error: \(error)"
        }
    }

    @Test("log_usage_event_v2 stores the caller's events and refuses bad names, large props and anonymous callers")
    func usageEvents() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            let alice = try await Fixtures.createUser(client, username: "alice")
            let bob = try await Fixtures.createUser(client, username: "bob")
            let logger = database.logger
            // Props naming another user change nothing: the user comes from the JWT.
            try await client.withCaller(Fixtures.caller(alice), logger: logger) { connection in
                _ = try await connection.query(
                    "SELECT public.log_usage_event_v2('feed.view', jsonb_build_object('user_id', \(bob.uuidString)), 's1', now())",
                    logger: logger)
                let stored = try await connection.query(
                    """
                    SELECT public.log_usage_events('[{"event":"post.open","props":{"n":1}},{"event":"post.like","client_ts":"2026-01-01T00:00:00Z"}]')
                    """, logger: logger
                ).decode(Int.self).first { _ in true }
                #expect(stored == 2)
            }
            let rows = try await client.query("SELECT user_id, event FROM public.usage_events ORDER BY id").decode((UUID?, String).self)
                .reduce(into: []) { $0.append($1) }
            #expect(rows.map(\.0) == [alice, alice, alice])
            #expect(rows.map(\.1) == ["feed.view", "post.open", "post.like"])

            func call(_ caller: Caller, _ sql: String) async -> String? {
                await sqlState {
                    try await client.withCaller(caller, logger: logger) { connection in
                        for try await _ in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger) {}
                    }
                }
            }
            #expect(await call(Fixtures.caller(alice), "SELECT public.log_usage_event_v2('Bad Name')") == "22023")
            #expect(await call(Fixtures.caller(alice), "SELECT public.log_usage_event_v2('x', jsonb_build_object('blob', repeat('a', 5000)))") == "22023")
            #expect(await call(Fixtures.caller(alice), "SELECT public.log_usage_event_v2('x', '[1]')") == "22023")
            #expect(await call(Fixtures.caller(alice), "SELECT public.log_usage_events('[]')") == "22023")
            #expect(await call(Fixtures.caller(alice), "SELECT public.log_usage_events((SELECT jsonb_agg(jsonb_build_object('event', 'e')) FROM generate_series(1, 101)))") == "22023")
            #expect(await call(Fixtures.caller(alice), #"SELECT public.log_usage_events('[{"event":"ok"},{"event":"NOT OK"}]')"#) == "22023")
            #expect(await call(Fixtures.caller(alice), #"SELECT public.log_usage_events('[{"event":"ok","client_ts":"yesterday-ish"}]')"#) == "22023")
            // Anonymous events are refused unless the operator allows them.
            #expect(await call(.anonymous, "SELECT public.log_usage_event_v2('page.view')") == "42501")
            try await client.query("UPDATE internal.settings SET value = 'true' WHERE name = 'telemetry_allow_anonymous'")
            #expect(await call(.anonymous, "SELECT public.log_usage_event_v2('page.view')") == nil)
            // A batch is all or nothing: the refused ones above stored nothing.
            let count = try await client.query("SELECT count(*)::int FROM public.usage_events").decode(Int.self).first { _ in true }
            #expect(count == 4)
            // Clients cannot write the table directly, nor pass a user id.
            #expect(await call(Fixtures.caller(alice), "INSERT INTO public.usage_events (user_id, event) VALUES ('\(bob)', 'x')") == "42501")
            #expect(await call(Fixtures.caller(alice), "SELECT public.log_usage_event_v2(p_event => 'x', p_user_id => '\(bob)')") == "42883")
        }
    }

    @Test("the per-user call budget answers PT429 when spent")
    func usageEventRateLimit() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            let alice = try await Fixtures.createUser(client, username: "alice")
            try await client.query("UPDATE internal.settings SET value = '3' WHERE name = 'telemetry_calls_per_minute'")
            var states: [String?] = []
            for _ in 0..<4 {
                states.append(await sqlState {
                    try await client.withCaller(Fixtures.caller(alice), logger: database.logger) { connection in
                        for try await _ in try await connection.query("SELECT public.log_usage_event_v2('tick')", logger: database.logger) {}
                    }
                })
            }
            #expect(states == [nil, nil, nil, "PT429"])
        }
    }

    @Test("a user reads only their own usage events; observations, metrics and errors are for admins")
    func readRules() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            let logger = database.logger
            let alice = try await Fixtures.createUser(client, username: "alice")
            let bob = try await Fixtures.createUser(client, username: "bob")
            let admin = try await Fixtures.createUser(client, username: "root", admin: true)
            for user in [alice, bob] {
                try await client.withCaller(Fixtures.caller(user), logger: logger) { connection in
                    _ = try await connection.query("SELECT public.log_usage_event_v2('hello')", logger: logger)
                    _ = try await connection.query(#"SELECT public.track_metrics('[{"name":"page_load","value":120,"unit":"ms"}]')"#, logger: logger)
                }
            }
            try await RPCObservation.insert(
                [RPCObservation(function: "rpc/x", method: "GET", role: "anon", userID: nil, status: 200, durationMilliseconds: 1,
                                databaseMilliseconds: nil, errorCode: nil, requestID: "r1", cacheResult: "hit")],
                client: client, logger: logger)
            try await ErrorEvent.insert([ErrorEvent(errorType: "T", message: "m", route: "/x")], client: client, logger: logger)
            func counts(_ user: UUID) async throws -> [Int] {
                try await client.withCaller(Fixtures.caller(user), logger: logger) { connection in
                    var counts: [Int] = []
                    for table in ["usage_events", "rpc_observations", "client_metrics", "error_events"] {
                        let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM public.\(table)"), logger: logger)
                        for try await count in rows.decode(Int.self) { counts.append(count) }
                    }
                    return counts
                }
            }
            #expect(try await counts(alice) == [1, 0, 0, 0])
            #expect(try await counts(admin) == [2, 1, 2, 1])
            let anonymous = await sqlState {
                try await client.withCaller(.anonymous, logger: logger) { connection in
                    for try await _ in try await connection.query("SELECT count(*) FROM public.usage_events", logger: logger) {}
                }
            }
            #expect(anonymous == "42501")
        }
    }

    @Test("track_metrics validates names, values, units and tags")
    func clientMetrics() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            let alice = try await Fixtures.createUser(client, username: "alice")
            func call(_ json: String) async -> String? {
                await sqlState {
                    try await client.withCaller(Fixtures.caller(alice), logger: database.logger) { connection in
                        for try await _ in try await connection.query("SELECT public.track_metrics(\(json)::jsonb)", logger: database.logger) {}
                    }
                }
            }
            #expect(await call(#"[{"name":"feed_render","value":35.5,"unit":"ms","tags":{"screen":"home"}}]"#) == nil)
            #expect(await call(#"[{"name":"Bad-Name","value":1}]"#) == "22023")
            #expect(await call(#"[{"name":"x","value":"fast"}]"#) == "22023")
            #expect(await call(#"[{"name":"x","value":1,"unit":"furlongs"}]"#) == "22023")
            #expect(await call(#"[{"name":"x","value":1,"tags":{"n":1}}]"#) == "22023")
            #expect(await call(#"{"name":"x","value":1}"#) == "22023")
            let stored = try await client.query("SELECT name, value FROM public.client_metrics").decode((String, Double).self)
                .reduce(into: []) { $0.append($1) }
            #expect(stored.count == 1)
            #expect(stored.first?.0 == "feed_render")
            #expect(stored.first?.1 == 35.5)
        }
    }

    func partitions(_ client: PostgresClient, of table: String) async throws -> [String] {
        try await client.query("""
            SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = \("public." + table)::regclass ORDER BY 1
            """).decode(String.self).reduce(into: []) { $0.append($1) }
    }

    static func month(_ date: Date, plus months: Int = 0) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let moved = calendar.date(byAdding: .month, value: months, to: date)!
        let parts = calendar.dateComponents([.year, .month], from: moved)
        return String(format: "%04d%02d", parts.year!, parts.month!)
    }

    @Test("maintenance creates partitions ahead, drops whole expired ones and trims only the oldest remaining")
    func partitionsAndRetention() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            let now = Date()
            // The migration made this month and the next two.
            #expect(try await partitions(client, of: "usage_events") == (0...2).map { "usage_events_p" + Self.month(now, plus: $0) })
            // Rows of this month (the only past month with a partition in a database made today).
            for at in [now, now.addingTimeInterval(-1)] {
                try await client.query("INSERT INTO public.usage_events (event, created_at) VALUES ('e', \(at))")
                try await client.query(
                    "INSERT INTO public.rpc_observations (fn, method, role, status, duration_ms, created_at) VALUES ('f', 'GET', 'anon', 200, 1, \(at))")
            }
            var retention = TelemetryMaintenance.Retention()
            retention.usageEventDays = 30
            retention.observationDays = 14
            // Four months on: everything of this month is past both retentions.
            let far = Calendar(identifier: .gregorian).date(byAdding: .month, value: 4, to: now)!
            let farResult = try await client.withConnection { connection in
                try await TelemetryMaintenance.run(on: connection, now: far, retention: retention, logger: database.logger)
            }
            #expect(farResult.contains(#""ran": true"#))
            let names = try await partitions(client, of: "usage_events")
            #expect(names.contains("usage_events_p" + Self.month(now, plus: 6)))
            #expect(!names.contains("usage_events_p" + Self.month(now)))
            #expect(try await client.query("SELECT count(*)::int FROM public.usage_events").decode(Int.self).first { _ in true } == 0)
            // The partitions are private: RLS forced, not in an exposed schema.
            let exposed = try await client.query("""
                SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relispartition AND c.relkind = 'r' AND (n.nspname <> 'internal' OR NOT c.relforcerowsecurity)
                """).decode(Int.self).first { _ in true }
            #expect(exposed == 0)
        }
    }

    @Test("retention deletes only the expired rows of a partition that is partly within it")
    func trimsOldestPartition() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            func at(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }
            var retention = TelemetryMaintenance.Retention()
            retention.usageEventDays = 30
            func run(_ now: Date) async throws -> String {
                try await client.withConnection { connection in
                    try await TelemetryMaintenance.run(on: connection, now: now, retention: retention, logger: database.logger)
                }
            }
            // January 2030 and the two months after it get their partitions.
            let created = try await run(at("2030-01-15T12:00:00Z"))
            #expect(created.contains("usage_events_p203001") && created.contains("usage_events_p203003"))
            try await client.query("""
                INSERT INTO public.usage_events (event, created_at)
                VALUES ('expired', \(at("2030-01-02T00:00:00Z"))), ('kept', \(at("2030-01-25T00:00:00Z"))), ('february', \(at("2030-02-10T00:00:00Z")))
                """)
            // On 20 February the cutoff is 21 January: January's partition is partly expired.
            let result = try await run(at("2030-02-20T00:00:00Z"))
            #expect(result.contains(#""usage_events_p203001": 1"#))
            let left = try await client.query("SELECT event FROM public.usage_events WHERE created_at >= '2030-01-01' ORDER BY created_at")
                .decode(String.self).reduce(into: []) { $0.append($1) }
            #expect(left == ["kept", "february"])
            // On 5 March (cutoff 3 February) January is wholly past: its partition goes, February's rows stay.
            let dropped = try await run(at("2030-03-05T00:00:00Z"))
            #expect(dropped.contains("usage_events_p203001"))
            #expect(!(try await partitions(client, of: "usage_events")).contains("usage_events_p203001"))
            let february = try await client.query("SELECT count(*)::int FROM public.usage_events WHERE created_at >= '2030-01-01'")
                .decode(Int.self).first { _ in true }
            #expect(february == 1)
        }
    }

    @Test("two instances never run maintenance at the same time")
    func oneInstanceAtATime() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient(poolSize: 2) { client in
            let retention = TelemetryMaintenance.Retention()
            try await client.withConnection { first in
                // The first instance is mid-run: its transaction holds the lock.
                try await first.query("BEGIN", logger: database.logger)
                let firstResult = try await TelemetryMaintenance.run(on: first, now: Date(), retention: retention, logger: database.logger)
                #expect(firstResult.contains(#""ran": true"#))
                let secondResult = try await client.withConnection { second in
                    try await TelemetryMaintenance.run(on: second, now: Date(), retention: retention, logger: database.logger)
                }
                #expect(secondResult.contains(#""ran": false"#))
                try await first.query("COMMIT", logger: database.logger)
            }
            let after = try await client.withConnection { second in
                try await TelemetryMaintenance.run(on: second, now: Date(), retention: retention, logger: database.logger)
            }
            #expect(after.contains(#""ran": true"#))
        }
    }
}
