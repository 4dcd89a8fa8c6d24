import AppConfig
import Foundation
import HTTPAPI
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Testing
import TestSupport

/// When no database connection can be had — every pooled connection busy, or the database away —
/// requests end at the acquisition deadline with an answer clients know to retry, never a hang
/// and never a bare 500.
@Suite("No free database connection")
struct PoolTimeoutHTTPTests {
    @Test("every pooled connection busy: /rest answers 504 PGRST003, /auth 504 request_timeout, both at the deadline")
    func busyPool() async throws {
        let database = try await TestDatabase.migrated()
        let app = try await TestApp.make(url: database.url) { $0.poolAcquisitionTimeoutMilliseconds = 300 }
        let key = try await app.apiKey(.anon)
        try await app.application.test(.router) { client in
            let rest = RestTestClient(client: client, apiKey: key)
            let auth = AuthTestClient(client: client, apiKey: key)
            #expect(try await rest.get("/posts?limit=1").status == .ok)  // schema cache loaded, pool warm

            // The test holds all four of the app's pooled connections for 2 s.
            let pool = app.dependencies.client
            try await withThrowingTaskGroup(of: Void.self) { holders in
                for _ in 0..<4 {
                    holders.addTask {
                        try await pool.withConnection { connection in
                            _ = try await connection.query("SELECT pg_sleep(2)", logger: testLogger).collect()
                        }
                    }
                }
                try await Task.sleep(for: .milliseconds(400))

                let started = ContinuousClock.now
                let read = try await rest.get("/posts?limit=1")
                #expect(read.status == .gatewayTimeout)
                #expect(read.code == "PGRST003")
                let signIn = try await auth.send(
                    .post, "/token?grant_type=password", json: ["email": "nobody@example.com", "password": "Whatever-123"])
                #expect(signIn.status == .gatewayTimeout)
                #expect(signIn.code == "request_timeout")
                let waited = ContinuousClock.now - started
                #expect(waited < .milliseconds(1500), "waited \(waited)")
                try await holders.waitForAll()
            }
            // Connections free again: the same requests succeed.
            #expect(try await rest.get("/posts?limit=1").status == .ok)
        }
    }

    @Test("the database away from the start: /rest answers 503 PGRST002 within the deadline")
    func databaseAway() async throws {
        let nothingListens = DatabaseURL(host: "127.0.0.1", port: 1, username: "nobody", password: "x", database: "none")
        let app = try await TestApp.make(url: nothingListens) { $0.poolAcquisitionTimeoutMilliseconds = 500 }
        let key = try await app.apiKey(.anon)
        try await app.application.test(.router) { client in
            let started = ContinuousClock.now
            let read = try await RestTestClient(client: client, apiKey: key).get("/posts?limit=1")
            #expect(read.status == .serviceUnavailable)
            #expect(read.code == "PGRST002")
            #expect(ContinuousClock.now - started < .seconds(3))
        }
    }
}
