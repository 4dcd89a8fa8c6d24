import AppConfig
import Auth
import Database
import Foundation
import HTTPAPI
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Testing
import TestSupport

@Suite("Health, readiness and routing errors")
struct HealthTests {
    static func makeApp(url: DatabaseURL) async throws -> some ApplicationProtocol {
        try await TestApp.make(url: url).application
    }

    static func json(_ buffer: ByteBuffer) -> [String: String] {
        (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: String] ?? [:]
    }

    @Test("/health answers, /ready says ready on a migrated database")
    func ready() async throws {
        let database = try await TestDatabase.migrated()
        try await Self.makeApp(url: database.url).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(Self.json(response.body)["status"] == "ok")
            }
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .ok)
                #expect(Self.json(response.body) == ["status": "ready", "database": "ok"])
            }
            try await client.execute(uri: "/health", method: .head) { response in
                #expect(response.status == .ok)
                #expect(response.body.readableBytes == 0)
            }
        }
    }

    @Test("/ready is not ready while migrations are pending")
    func pendingMigrations() async throws {
        let database = try await TestDatabase.empty()
        try await Self.makeApp(url: database.url).test(.router) { client in
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let body = Self.json(response.body)
                #expect(body["status"] == "not_ready")
                #expect(body["reason"]?.contains("pending") == true)
            }
        }
    }

    @Test("/ready is not ready, promptly, when the database is down")
    func databaseDown() async throws {
        let nothingListens = DatabaseURL(host: "127.0.0.1", port: 1, username: "nobody", password: "x", database: "none")
        try await Self.makeApp(url: nothingListens).test(.router) { client in
            let started = ContinuousClock.now
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(Self.json(response.body)["database"] == "unreachable")
            }
            // Bounded by the readiness timeout (3 s), not by the pool's reconnect loop.
            #expect(ContinuousClock.now - started < .seconds(10))
            // Liveness does not depend on the database.
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test("unknown routes are 404 JSON, wrong methods 405 JSON with Allow")
    func routingErrors() async throws {
        let database = try await TestDatabase.migrated()
        try await Self.makeApp(url: database.url).test(.router) { client in
            try await client.execute(uri: "/no/such/route", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                #expect(Self.json(response.body)["code"] == "not_found")
            }
            try await client.execute(uri: "/health", method: .post) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD")
                #expect(Self.json(response.body)["code"] == "method_not_allowed")
            }
            try await client.execute(uri: "/ready", method: .delete) { response in
                #expect(response.status == .methodNotAllowed)
            }
        }
    }
}
