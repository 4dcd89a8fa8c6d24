import Database
import Foundation
import PostgresNIO
import Testing
import TestSupport

/// A request that cannot get a pooled connection gives up after its deadline instead of waiting on,
/// and giving up leaves the pool whole.
@Suite("Waiting for a pooled connection")
struct AcquisitionTimeoutTests {
    @Test("all connections busy: the wait ends at the deadline; the pool serves again afterwards")
    func busyPool() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient(poolSize: 1) { client in
            let logger = database.logger
            // The only connection is held for 2 s.
            async let holder: Void = client.withCaller(.anonymous, logger: logger) { connection in
                _ = try await connection.query("SELECT pg_sleep(2)", logger: logger).collect()
            }
            try await Task.sleep(for: .milliseconds(300))
            let started = ContinuousClock.now
            await #expect(throws: ConnectionAcquisitionTimeout.self) {
                try await client.withCaller(.anonymous, acquisitionTimeout: .milliseconds(300), logger: logger) { _ in }
            }
            let waited = ContinuousClock.now - started
            #expect(waited >= .milliseconds(250) && waited < .milliseconds(1500), "waited \(waited)")
            try await holder
            // The abandoned wait took no connection with it: the next caller gets one at once.
            let answer = try await client.withCaller(.anonymous, acquisitionTimeout: .milliseconds(500), logger: logger) { connection in
                try await connection.strings("SELECT current_user::text", logger: logger)
            }
            #expect(answer == ["anon"])
        }
    }

    @Test("a connection that comes in time is used to the end, however long the work takes")
    func slowWorkIsNotCut() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient(poolSize: 1) { client in
            let logger = database.logger
            let answer = try await client.withCaller(.anonymous, acquisitionTimeout: .milliseconds(200), logger: logger) { connection in
                try await connection.strings("SELECT pg_sleep(0.6)::text || 'done'", logger: logger)
            }
            #expect(answer == ["done"])
        }
    }
}
