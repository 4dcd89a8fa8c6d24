import Database
import Foundation
import PostgresNIO
import Testing
import TestSupport

/// A request whose database connection dies under it ends, with an error clients can retry on,
/// even when the driver never delivers the statement's result (issue 23's hang).
@Suite("Losing the database connection under a request")
struct ConnectionLossTests {
    @Test("work that never ends on a connection that closed is given up within a second, as a connection loss")
    func abandonedOnClose() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient(poolSize: 1) { client in
            try await client.withConnection { connection in
                let started = ContinuousClock.now
                // Stands for a statement whose answer PostgresNIO lost: it waits for ever, ignoring cancellation.
                async let outcome: Void = untilConnectionLost(connection) { await Self.waitIgnoringCancellation(seconds: 30) }
                try await Task.sleep(for: .milliseconds(300))
                try await connection.close()
                do {
                    try await outcome
                    Issue.record("the work returned")
                } catch {
                    #expect(DatabaseFault.isConnectionLoss(error), "\(error)")
                }
                #expect(ContinuousClock.now - started < .seconds(2))
            }
        }
    }

    @Test("work on a live connection is never cut, however long it takes")
    func liveConnectionIsNotCut() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient(poolSize: 1) { client in
            try await client.withConnection { connection in
                let logger = database.logger
                let answer = try await untilConnectionLost(connection) {
                    try await connection.query("SELECT pg_sleep(0.8)::text || 'done'", logger: logger).collect()
                        .map { try $0.decode(String.self) }
                }
                #expect(answer == ["done"])
            }
        }
    }

    @Test("a backend terminated as PostgreSQL restarts: the request's error is a connection loss; the next request gets a live connection")
    func terminatedBackend() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient(poolSize: 1) { client in
            let logger = database.logger
            let pid = try await client.withCaller(.anonymous, logger: logger) { connection in
                try await connection.strings("SELECT pg_backend_pid()::text", logger: logger)
            }
            let victim = try #require(pid.first.flatMap { Int($0) })
            async let slow: [String] = client.withCaller(.anonymous, logger: logger) { connection in
                try await connection.strings("SELECT pg_sleep(3)::text", logger: logger)
            }
            try await Task.sleep(for: .milliseconds(300))
            do {
                try await database.maintenance.withClient { admin in
                    _ = try await admin.query("SELECT pg_terminate_backend(\(victim)::int)", logger: logger).collect()
                }
            } catch {
                Issue.record("terminating: \(String(reflecting: error))")
            }
            do {
                _ = try await slow
                Issue.record("the query survived its backend")
            } catch {
                #expect(DatabaseFault.isConnectionLoss(error), "\(String(reflecting: error))")
            }
            do {
                let again = try await client.withCaller(.anonymous, logger: logger) { connection in
                    try await connection.strings("SELECT 'back'", logger: logger)
                }
                #expect(again == ["back"])
            } catch {
                Issue.record("after the loss: \(String(reflecting: error))")
            }
        }
    }

    @Test("a read whose backend is terminated mid-statement is answered by its second try (the session check's and the relations' path)")
    func readRiddenOut() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient(poolSize: 1) { client in
            let logger = database.logger
            let tries = Counter()
            async let read: [String] = DatabaseFault.retryingRead(logger: logger) {
                let attempt = tries.next()
                return try await client.withCaller(.serviceRole, readOnly: true, logger: logger) { connection in
                    try await connection.strings("SELECT pg_sleep(\(attempt == 1 ? 3 : 0))::text || 'read'", logger: logger)
                }
            }
            // The first try's backend, found once it is asleep, and terminated as a failover would.
            var terminated = false
            for _ in 0..<50 where !terminated {
                try await Task.sleep(for: .milliseconds(100))
                terminated = try await database.maintenance.withClient { admin in
                    try await !admin.query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' AND state = 'active' AND pid <> pg_backend_pid()", logger: logger
                    ).collect().isEmpty
                }
            }
            #expect(terminated)
            #expect(try await read == ["read"])
            #expect(tries.value == 2)
        }
    }

    @Test("SQLSTATEs: the connection class, shutdowns and too many connections are losses; a statement's own failure is not")
    func classification() {
        for state in ["08006", "08003", "57P01", "57P02", "57P03", "53300"] {
            #expect(DatabaseFault.isConnectionLoss(sqlState: state), "\(state)")
        }
        for state in ["57014", "23505", "42501", "P0001", "40001", "53400"] {
            #expect(!DatabaseFault.isConnectionLoss(sqlState: state), "\(state)")
        }
        for code in [PSQLError.Code.serverClosedConnection, .clientClosedConnection, .connectionError, .poolClosed, .unexpectedBackendMessage] {
            #expect(DatabaseFault.isConnectionLoss(code: code), "\(code)")
        }
        for code in [PSQLError.Code.server, .queryCancelled, .tooManyParameters, .invalidCommandTag] {
            #expect(!DatabaseFault.isConnectionLoss(code: code), "\(code)")
        }
        #expect(DatabaseFault.isConnectionLoss(DatabaseConnectionLost()))
        #expect(!DatabaseFault.isConnectionLoss(CancellationError()))
    }

    @Test("retrying: a loss that passes is ridden out, anything else fails at once, and a loss that stays ends within the window")
    func retryingWithinTheWindow() async throws {
        // Two losses, then an answer: the caller gets the answer, having heard of both losses.
        let tries = Counter()
        var heard: [Int] = []
        let answer = try await DatabaseFault.retrying(while: DatabaseFault.isConnectionLoss, willRetry: { _, attempt in heard.append(attempt) }) {
            if tries.next() <= 2 { throw DatabaseConnectionLost() }
            return 42
        }
        #expect(answer == 42 && heard == [1, 2])

        // Not a loss: no second try.
        let once = Counter()
        await #expect(throws: CancellationError.self) {
            try await DatabaseFault.retrying(while: DatabaseFault.isConnectionLoss) { () async throws -> Int in
                _ = once.next()
                throw CancellationError()
            }
        }
        #expect(once.value == 1)

        // A loss that never passes: the error, once the window is spent (never much later).
        let started = ContinuousClock.now
        let always = Counter()
        await #expect(throws: DatabaseConnectionLost.self) {
            try await DatabaseFault.retrying(while: DatabaseFault.isConnectionLoss) { () async throws -> Int in
                _ = always.next()
                throw DatabaseConnectionLost()
            }
        }
        let spent = started.duration(to: .now)
        #expect(spent <= DatabaseFault.reconnectWindow + .seconds(1), "\(spent)")
        #expect(spent >= DatabaseFault.reconnectWindow - .milliseconds(600), "\(spent)")
        #expect(always.value > 5)
    }

    @Test("withTimeout returns at its timeout even when the operation ignores cancellation")
    func timeoutDoesNotWaitForTheOperation() async {
        let started = ContinuousClock.now
        let result: Int? = await withTimeout(.milliseconds(200)) {
            await Self.waitIgnoringCancellation(seconds: 10)
            return 1
        }
        #expect(result == nil)
        #expect(ContinuousClock.now - started < .seconds(1))
        let quick: Int? = await withTimeout(.seconds(5)) { 42 }
        #expect(quick == 42)
    }

    /// Stands for an await that never ends: sleeps on, whatever cancellation says.
    static func waitIgnoringCancellation(seconds: Int) async {
        for _ in 0..<seconds * 10 { try? await Task.sleep(for: .milliseconds(100)) }
    }
}

/// A count shared with the closures of one test.
private final class Counter: @unchecked Sendable {
    private(set) var value = 0
    func next() -> Int {
        value += 1
        return value
    }
}
