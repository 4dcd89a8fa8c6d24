import Foundation
import PostgresNIO
import Testing
import TestSupport

@Suite("feedfusion verify")
struct VerifyCommandTests {
    func verify(
        _ database: TestDatabase, _ arguments: [String], command: String = "verify", environment extra: [String: String] = [:]
    ) async throws -> CommandRunner.Outcome {
        let url = database.url
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("verify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let databaseURL = "postgres://\(url.username):\(url.password ?? "")@\(url.host):\(url.port)/\(url.database)?sslmode=disable"
        return try await CommandRunner.run(
            [command] + arguments,
            environment: ["DATABASE_URL": databaseURL, "JWT_SECRET": String(repeating: "k", count: 40), "LOG_LEVEL": "error"]
                .merging(extra) { $1 },
            workingDirectory: directory)
    }

    @Test("REDIS_URL: PASS when Redis answers, WARN (not FAIL) when it does not")
    func redis() async throws {
        let database = try await TestDatabase.migrated()
        let redis = try TestRedis()
        let up = try await verify(database, [], environment: ["REDIS_URL": redis.url])
        #expect(up.standardOutput.contains("PASS  redis: Redis at 127.0.0.1:\(redis.port) answers"), "\(up.standardOutput)")
        redis.stop()
        let down = try await verify(database, [], environment: ["REDIS_URL": redis.url])
        #expect(down.standardOutput.contains("WARN  redis: REDIS_URL is set but Redis at 127.0.0.1:\(redis.port) does not answer"))
        #expect(down.status == up.status)
    }

    @Test("a migrated database is ready (exit 0, no FAIL); a missing partition or RLS switched off fails, named")
    func report() async throws {
        let database = try await TestDatabase.migrated()
        let good = try await verify(database, ["--json"])
        #expect(good.status == 0, "\(good.standardError)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(good.standardOutput.utf8)) as? [String: Any])
        #expect(report["ok"] as? Bool == true)
        let checks = try #require(report["checks"] as? [[String: Any]])
        let statuses = Dictionary(uniqueKeysWithValues: checks.compactMap { check in
            (check["name"] as? String).map { ($0, check["status"] as? String ?? "") }
        })
        for name in ["rls_enabled_and_forced", "definer_search_path", "definer_guard", "client_role_privileges",
                     "anon_policies_read_only", "telemetry_partitions", "telemetry_retention", "database_connections",
                     "statement_timeout", "feed_indexes", "auth_policy", "feed_cache", "redis", "request_role", "pooling",
                     "client_executable_functions"] {
            #expect(statuses[name] == "PASS", "\(name)")
        }
        // Nothing observed yet and no Sentry DSN: warnings, not failures.
        #expect(statuses["cache_hit_rate"] == "WARN")
        #expect(statuses["feed_plans"] == "WARN")  // a test database is too small to judge plans
        #expect(statuses["error_tracking"] == "WARN")
        #expect(statuses["mail"] == "WARN")  // no SMTP_HOST: recovery mails only logged

        // A missing partition (maintenance not running) fails, named.
        try await database.withClient { client in
            let name = try await client.query(
                "SELECT 'internal.usage_events_p' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month', 'YYYYMM')"
            ).decode(String.self).first { _ in true }!
            try await client.query(PostgresQuery(unsafeSQL: "DROP TABLE \(name)"))
        }
        let missing = try await verify(database, [])
        #expect(missing.status == 1)
        #expect(missing.standardOutput.contains("FAIL  telemetry_partitions"))
        // A feed index dropped by hand fails, named.
        try await database.withClient { try await $0.query("DROP INDEX public.posts_author_created_idx") }
        let unindexed = try await verify(database, [])
        #expect(unindexed.status == 1)
        #expect(unindexed.standardOutput.contains("FAIL  feed_indexes"))
        #expect(unindexed.standardOutput.contains("posts_author_created_idx"))
        try await database.withClient {
            try await $0.query("CREATE INDEX posts_author_created_idx ON public.posts (author_id, created_at DESC, id DESC)")
        }
        // `feedfusion maintenance` puts it back.
        let maintenance = try await verify(database, [], command: "maintenance")
        #expect(maintenance.status == 0, "\(maintenance.standardError)")
        #expect(maintenance.standardOutput.contains(#""ran": true"#))
        #expect(maintenance.standardOutput.contains("usage_events_p"))
        #expect(try await verify(database, []).status == 0)

        try await database.withClient { try await $0.query("ALTER TABLE public.post_likes DISABLE ROW LEVEL SECURITY") }
        let bad = try await verify(database, [])
        #expect(bad.status == 1)
        #expect(bad.standardOutput.contains("FAIL  rls_enabled_and_forced"))
        #expect(bad.standardOutput.contains("public.post_likes (RLS off)"))
        #expect(bad.standardOutput.contains("not ready"))
    }

    @Test("requests as a superuser, or a function clients should not execute, fail verify (issue 17)")
    func requestRoleAndExecutableFunctions() async throws {
        let database = try await TestDatabase.migrated()
        let good = try await verify(database, [])
        #expect(good.standardOutput.contains("PASS  request_role: requests run as authenticator"), "\(good.standardOutput)")
        // The operator names the owner (a superuser) as the request role.
        let url = database.url
        let owner = "postgres://\(url.username):\(url.password ?? "")@\(url.host):\(url.port)/\(url.database)?sslmode=disable"
        let superuser = try await verify(database, [], environment: ["DATABASE_AUTHENTICATOR_URL": owner])
        #expect(superuser.status == 1)
        #expect(superuser.standardOutput.contains("FAIL  request_role"))
        #expect(superuser.standardOutput.contains("\(url.username) is a superuser"))
        // A helper granted to anon by hand.
        try await database.withClient {
            try await $0.query("GRANT EXECUTE ON FUNCTION internal.is_follower(uuid, uuid) TO anon")
        }
        let granted = try await verify(database, [])
        #expect(granted.status == 1)
        #expect(granted.standardOutput.contains("FAIL  client_executable_functions"))
        #expect(granted.standardOutput.contains("internal.is_follower/2"))
    }
}
