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
                #expect(read["Retry-After"] == "1")
                let signIn = try await auth.send(
                    .post, "/token?grant_type=password", json: ["email": "nobody@example.com", "password": "Whatever-123"])
                #expect(signIn.status == .gatewayTimeout)
                #expect(signIn.code == "request_timeout")
                #expect(signIn.headers[.retryAfter] == "1")
                let waited = ContinuousClock.now - started
                #expect(waited < .milliseconds(1500), "waited \(waited)")
                try await holders.waitForAll()
            }
            // Connections free again: the same requests succeed.
            #expect(try await rest.get("/posts?limit=1").status == .ok)
        }
    }

    /// A write gets the request pool's next free connection before the reads waiting for one
    /// (`PoolAdmission`): with every turn taken, a read of the newest post is asked first, a new
    /// post second; one turn comes free, and the read, let in after the write committed, sees it.
    @Test("every connection's turn taken: a write asked after a read gets the next free one first")
    func writesFirst() async throws {
        let database = try await TestDatabase.migrated()
        let author = try await database.withClient { try await Fixtures.createUser($0, username: "writes_first") }
        let app = try await TestApp.make(url: database.url)
        let admission = try #require(app.dependencies.data.admission)
        let key = try await app.apiKey(.anon)
        try await app.application.test(.router) { client in
            let rest = RestTestClient(client: client, apiKey: key)
            let writer = rest.callAs(try await RestTestClient.token(for: author))
            #expect(try await writer.get("/posts?limit=1").status == .ok)  // schema cache, session checked
            // Every turn taken (the pool's 4 connections stay free for whoever is let in).
            var releases: [AsyncStream<Void>.Continuation] = []
            var holders: [Task<Void, any Error>] = []
            for _ in 0..<app.settings.databasePoolSize {
                let (held, release) = AsyncStream.makeStream(of: Void.self)
                let (inside, entered) = AsyncStream.makeStream(of: Void.self)
                releases.append(release)
                holders.append(Task { try await admission.withPermit(write: false) { entered.yield(); for await _ in held { break } } })
                for await _ in inside { break }  // this turn is held
            }
            #expect(admission.waiting == (0, 0))
            let read = Task { try await rest.get("/posts?select=body&order=created_at.desc&limit=1") }
            try await PoolAdmissionWait.until { admission.waiting.reads == 1 }
            let write = Task { try await writer.send(.post, "/rpc/create_post", json: ["p_body": "first in line"]).status }
            try await PoolAdmissionWait.until { admission.waiting.writes == 1 }
            releases[0].yield()
            #expect(try await write.value == .ok)
            for release in releases.dropFirst() { release.yield() }
            let newest = try await read.value
            #expect(newest.status == .ok)
            #expect(newest.rows.first?["body"] as? String == "first in line", "the read was let in before the write")
            for holder in holders { try await holder.value }
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

    @Test("pooled connections killed while idle (a PostgreSQL restart): the next write and read run on fresh connections, unharmed")
    func idleConnectionsKilled() async throws {
        let database = try await TestDatabase.migrated()
        let user = try await database.withClient { try await Fixtures.createUser($0, username: "restarted") }
        let app = try await TestApp.make(url: database.url)
        let key = try await app.apiKey(.anon)
        let token = try await RestTestClient.token(for: user)
        try await app.application.test(.router) { client in
            let rest = RestTestClient(client: client, apiKey: key).callAs(token)
            // Warm: every pooled connection opened and idle.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 { group.addTask { _ = try await rest.get("/posts?limit=1") } }
                try await group.waitForAll()
            }
            for round in 1...3 {
                let name = database.url.database
                try await database.maintenance.withClient { admin in
                    _ = try await admin.query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(name) AND query NOT ILIKE '%LISTEN%'",
                        logger: testLogger
                    ).collect()
                }
                try await Task.sleep(for: .milliseconds(50))
                // Nothing was sent on the dead connections: the write is not at risk, so it is not refused.
                let write = try await rest.send(.post, "/rpc/create_post", json: ["p_body": "after restart \(round)"])
                #expect(write.status == .ok, "round \(round): \(write.status) \(write.code ?? "")")
                let read = try await rest.get("/posts?select=body&body=eq.after%20restart%20\(round)")
                #expect(read.status == .ok)
                #expect(read.rows.count == 1, "round \(round)")
            }
        }
    }

    @Test("the database refusing connections after losing them: 503/504 with Retry-After in each route family's shape, never 500")
    func databaseRefusing() async throws {
        let database = try await TestDatabase.migrated()
        let app = try await TestApp.make(url: database.url) { $0.poolAcquisitionTimeoutMilliseconds = 400 }
        let key = try await app.apiKey(.anon)
        try await app.application.test(.router) { client in
            let rest = RestTestClient(client: client, apiKey: key)
            let auth = AuthTestClient(client: client, apiKey: key)
            #expect(try await rest.get("/posts?limit=1").status == .ok)
            let name = database.url.database
            try await database.maintenance.withClient { admin in
                _ = try await admin.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \"\(name)\" ALLOW_CONNECTIONS false"), logger: testLogger).collect()
                _ = try await admin.query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(name)", logger: testLogger
                ).collect()
            }
            let read = try await rest.get("/posts?limit=1")
            let signIn = try await auth.send(.post, "/token?grant_type=password", json: ["email": "nobody@example.com", "password": "Whatever-123"])
            try await database.maintenance.withClient { admin in
                _ = try await admin.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \"\(name)\" ALLOW_CONNECTIONS true"), logger: testLogger).collect()
            }
            for (reply, code) in [(read.status, read.code), (signIn.status, signIn.code)] {
                #expect([.serviceUnavailable, .gatewayTimeout].contains(reply), "\(reply) \(code ?? "")")
            }
            #expect(read["Retry-After"] == "1")
            #expect(["PGRST000", "PGRST002", "PGRST003"].contains(read.code ?? ""), "\(read.code ?? "")")
            #expect(signIn.headers[.retryAfter] == "1")
            #expect(["service_unavailable", "request_timeout"].contains(signIn.code ?? ""), "\(signIn.code ?? "")")
            // Back: served again.
            #expect(try await rest.get("/posts?limit=1").status == .ok)
        }
    }
}

/// Polls a condition the server reaches on its own, for up to five seconds.
enum PoolAdmissionWait {
    static func until(_ condition: () -> Bool) async throws {
        for _ in 0..<500 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
        #expect(condition(), "not reached within five seconds")
    }
}
