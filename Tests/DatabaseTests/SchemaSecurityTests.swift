import Database
import DatabaseReadiness
import PostgresNIO
import TestSupport
import Testing

/// The security rules of the schema, checked by the same audit `feedfusion verify` runs, and each
/// check shown to fail — with the culprit as evidence — when a hand-made change breaks its rule.
@Suite("Schema security")
struct SchemaSecurityTests {
    func audit(_ connection: PostgresConnection) async throws -> [String: ReadinessCheck] {
        let checks = try await SecurityAudit.run(on: connection, schemas: ["public"], logger: testLogger)
        return Dictionary(uniqueKeysWithValues: checks.map { ($0.name, $0) })
    }

    @Test("the migrated schema passes every check")
    func migratedSchemaPasses() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            let checks = try await client.withConnection { try await audit($0) }
            #expect(checks.count == 6)
            for check in checks.values { #expect(check.status == .pass, "\(check.name): \(check.evidence)") }
            // The seed's own query agrees.
            let unprotected = try await client.query(
                "SELECT count(*)::int FROM pg_tables WHERE schemaname IN ('public', 'auth') AND rowsecurity = false"
            ).collect().first?.decode(Int.self)
            #expect(unprotected == 0)
        }
    }

    @Test("each rule broken by hand fails its check, naming what broke it")
    func brokenRulesFail() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in try await client.withConnection { connection in
            let breakages: [(check: String, statements: [String], culprit: String)] = [
                ("rls_enabled_and_forced", ["ALTER TABLE public.blocks DISABLE ROW LEVEL SECURITY"], "public.blocks (RLS off)"),
                ("rls_enabled_and_forced", ["ALTER TABLE public.follows NO FORCE ROW LEVEL SECURITY"], "public.follows (RLS not forced)"),
                ("definer_search_path", [
                    "CREATE FUNCTION public.loose() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 WHERE public.is_admin() $$",
                ], "loose()"),
                ("definer_guard", [
                    """
                    CREATE FUNCTION public.wipe_posts(p_author uuid) RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = ''
                    AS $$ DELETE FROM public.posts WHERE author_id = p_author $$
                    """,
                    "GRANT EXECUTE ON FUNCTION public.wipe_posts(uuid) TO authenticated",
                ], "wipe_posts(uuid)"),
                ("client_role_privileges", ["GRANT TRUNCATE ON public.posts TO anon"], "anon has TRUNCATE on public.posts"),
                ("client_role_privileges", ["GRANT SELECT ON auth.users TO authenticated"], "authenticated has SELECT on auth.users"),
                ("client_executable_functions", ["GRANT EXECUTE ON FUNCTION internal.telemetry_maintenance(timestamptz, int, int, int, int, int) TO anon"],
                 "internal.telemetry_maintenance/6"),
                ("client_executable_functions", ["GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA internal TO authenticated"], "internal.is_follower/2"),
                ("client_executable_functions", ["CREATE FUNCTION public.extra() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$"], "public.extra/0"),
                ("anon_policies_read_only", [
                    "CREATE POLICY anyone_posts ON public.posts FOR INSERT WITH CHECK (true)",
                ], "public.posts: policy anyone_posts for INSERT"),
            ]
            for breakage in breakages {
                // One connection, one transaction: each breakage is undone before the next.
                try await connection.query("BEGIN", logger: testLogger)
                for statement in breakage.statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: testLogger) }
                let check = try #require(try await audit(connection)[breakage.check])
                try await connection.query("ROLLBACK", logger: testLogger)
                #expect(check.status == .fail, "\(breakage.check) after \(breakage.statements)")
                #expect(check.evidence.contains { $0.contains(breakage.culprit) }, "\(check.evidence)")
            }
            // Rolled back: everything passes again.
            #expect(try await audit(connection).values.allSatisfy { $0.status == .pass })
        } }
    }
}
