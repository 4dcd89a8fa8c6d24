import Database
import Foundation
import PostgresNIO
import Testing
import TestSupport

@Suite("Running SQL as the caller")
struct CallerTransactionTests {
    @Test("role and claims are set for the transaction and gone after it, on the same pooled connection")
    func roleIsTransactionLocal() async throws {
        let database = try await TestDatabase.migrated()
        let user = UUID()
        try await database.withClient(poolSize: 1) { client in
            let caller = Fixtures.caller(user)
            let inside = try await client.withCaller(caller, logger: database.logger) { connection in
                try await connection.strings(
                    "SELECT current_user || ' ' || auth.uid()::text || ' ' || auth.role()", logger: database.logger)
            }
            #expect(inside == ["authenticated \(user.uuidString.lowercased()) authenticated"])

            var after: [String] = []
            for try await row in try await client.query(
                "SELECT current_user || '|' || coalesce(current_setting('request.jwt.claims', true), '')"
            ).decode(String.self) {
                after.append(row)
            }
            #expect(after == ["postgres|"])
        }
    }

    @Test("a failing statement rolls the whole transaction back")
    func failureRollsBack() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            let author = try await Fixtures.createUser(client, username: "writer")
            await #expect(throws: PSQLError.self) {
                try await client.withCaller(Fixtures.caller(author), logger: database.logger) { connection in
                    try await connection.query("INSERT INTO public.posts (author_id, body) VALUES (\(author), 'kept?')", logger: database.logger)
                    try await connection.query("INSERT INTO public.posts (author_id, body) VALUES (\(author), '')", logger: database.logger)
                }
            }
            var count = -1
            for try await value in try await client.query("SELECT count(*)::int FROM public.posts").decode(Int.self) { count = value }
            #expect(count == 0)
        }
    }

    @Test("anon has no signed-in user")
    func anonHasNoUser() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            let values = try await client.withCaller(.anonymous, logger: database.logger) { connection in
                try await connection.strings(
                    "SELECT current_user || ' ' || coalesce(auth.uid()::text, 'none')", logger: database.logger)
            }
            #expect(values == ["anon none"])
        }
    }
}
