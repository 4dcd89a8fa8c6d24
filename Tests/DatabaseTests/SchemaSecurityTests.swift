import Database
import PostgresNIO
import Testing
import TestSupport

@Suite("Schema security")
struct SchemaSecurityTests {
    @Test("every table of every exposed schema has Row Level Security enabled and forced")
    func rlsEverywhere() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            // The seed's own check, extended to auth.
            var unprotected = -1
            for try await count in try await client.query(
                "SELECT count(*)::int FROM pg_tables WHERE schemaname IN ('public', 'auth') AND rowsecurity = false"
            ).decode(Int.self) {
                unprotected = count
            }
            #expect(unprotected == 0)

            var notForced: [String] = []
            for try await name in try await client.query(
                """
                SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname IN ('public', 'auth') AND c.relkind IN ('r', 'p') AND NOT c.relforcerowsecurity
                """
            ).decode(String.self) {
                notForced.append(name)
            }
            #expect(notForced.isEmpty)

            var tables = 0
            for try await count in try await client.query(
                "SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public'"
            ).decode(Int.self) {
                tables = count
            }
            #expect(tables >= 7)
        }
    }

    @Test("SECURITY DEFINER functions have a fixed search_path")
    func definerFunctionsPinSearchPath() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            var unpinned: [String] = []
            for try await name in try await client.query(
                """
                SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE p.prosecdef AND n.nspname IN ('public', 'auth', 'internal')
                  AND NOT coalesce(p.proconfig::text[] @> ARRAY['search_path=""'], false)
                """
            ).decode(String.self) {
                unpinned.append(name)
            }
            #expect(unpinned.isEmpty)
        }
    }

    @Test("anon and authenticated cannot read the auth tables or truncate anything")
    func noDangerousPrivileges() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            var grants: [String] = []
            for try await grant in try await client.query(
                """
                SELECT grantee || ' ' || privilege_type || ' ' || table_schema || '.' || table_name
                FROM information_schema.role_table_grants
                WHERE grantee IN ('anon', 'authenticated')
                  AND (table_schema = 'auth' OR privilege_type IN ('TRUNCATE', 'REFERENCES', 'TRIGGER'))
                """
            ).decode(String.self) {
                grants.append(grant)
            }
            #expect(grants.isEmpty)
        }
    }
}
