@testable import Database
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

    @Test("read-only transactions leave COMMIT unwaited: on one connection, each next transaction still sees only its own caller")
    func readOnlyCommitUnwaited() async throws {
        let database = try await TestDatabase.migrated()
        let users = (0..<3).map { _ in UUID() }
        try await database.withClient(poolSize: 1) { client in
            var seen: [String] = []
            var expected: [String] = []
            for round in 0..<60 {
                let user = users[round % users.count]
                if round % 5 == 4 {
                    // A write right behind a read: its BEGIN queues behind the read's COMMIT.
                    seen += try await client.withCaller(Fixtures.caller(user), logger: database.logger) { connection in
                        try await connection.strings("SELECT 'rw ' || current_user || ' ' || auth.uid()::text", logger: database.logger)
                    }
                    expected.append("rw authenticated \(user.uuidString.lowercased())")
                } else if round % 7 == 6 {
                    // Outside any caller's transaction: no role, no claims left behind.
                    for try await value in try await client.query(
                        "SELECT 'none ' || current_user || ' ' || coalesce(current_setting('request.jwt.claims', true), '')"
                    ).decode(String.self) { seen.append(value) }
                    expected.append("none postgres ")
                } else {
                    seen += try await client.withCaller(Fixtures.caller(user), readOnly: true, logger: database.logger) { connection in
                        try await connection.strings(
                            "SELECT 'ro ' || current_user || ' ' || auth.uid()::text || ' ' || current_setting('transaction_read_only')",
                            logger: database.logger)
                    }
                    expected.append("ro authenticated \(user.uuidString.lowercased()) on")
                }
            }
            #expect(seen == expected)
        }
    }

    @Test("the settings refuse a transaction that already has a caller's role, and a BEGIN that failed: the body never runs")
    func settingsNeedAFreshTransaction() async throws {
        let database = try await TestDatabase.migrated()
        let user = UUID()
        let caller = Fixtures.caller(user)
        let names = ["role", "request.jwt.claims", "request.jwt.claim.sub", "request.jwt.claim.role"]
        let values = [caller.role.rawValue, caller.claimsJSON, user.uuidString.lowercased(), caller.role.rawValue]
        try await database.withClient(poolSize: 1) { client in
            try await client.withConnection { connection in
                let logger = database.logger
                // As if this BEGIN had overtaken another caller's COMMIT: a transaction with anon's role is open.
                _ = try await connection.query("BEGIN", logger: logger)
                _ = try await connection.query("SELECT set_config('role', 'anon', true)", logger: logger)
                let ran = BodyStarted()
                await #expect(throws: LostBeforeBody.self) {
                    try await PostgresClient.transaction(
                        on: connection, readOnly: true, names: names, values: values, logger: logger, bodyStarted: BodyStarted()
                    ) { _ in ran.set() }
                }
                #expect(!ran.value)

                // A BEGIN that fails: the settings ran on their own (and ended with their statement).
                let ranAfterFailedBegin = BodyStarted()
                await #expect(throws: PSQLError.self) {
                    try await PostgresClient.transaction(
                        on: connection, readOnly: false, names: names, values: values, logger: logger, bodyStarted: BodyStarted(),
                        begin: PostgresQuery(unsafeSQL: "BEGIN ISOLATION LEVEL NONSENSE")
                    ) { _ in ranAfterFailedBegin.set() }
                }
                #expect(!ranAfterFailedBegin.value)

                let after = try await connection.strings(
                    "SELECT current_user || '|' || coalesce(current_setting('request.jwt.claims', true), '')",
                    logger: logger)
                #expect(after == ["postgres|"])
            }
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
