import AppConfig
import Database
import DatabaseReadiness
import Foundation
import PostgresNIO
import TestSupport
import Testing

/// Requests through PgBouncer in transaction mode (issue 22): the probe tells it from a direct
/// connection; with named statements off every transaction works and no caller's settings outlive
/// it, whichever server session it lands on; with them on, a name prepared on one session is
/// unknown on another — why the probe turns them off.
@Suite("Through a transaction pooler", .serialized)
struct TransactionPoolerTests {
    @Test("the probe: PgBouncer in transaction mode shares sessions; a direct connection and session mode do not")
    func probe() async throws {
        let database = try await TestDatabase.migrated()
        let transaction = try TestPgBouncer(in: database)
        let session = try TestPgBouncer(in: database, poolMode: "session", serverPoolSize: 8)
        defer { transaction.stop(); session.stop() }
        let found = try await PoolingAudit.probe(requests: transaction.url, owner: database.url, logger: testLogger)
        #expect(found.requests == .transaction)
        #expect(found.owner == .session)
        #expect(try await PoolingAudit.probe(requests: session.url, owner: database.url, logger: testLogger).requests == .session)
        #expect(PoolingAudit.check(found, configured: nil).status == .pass)
        #expect(PoolingAudit.check(found, configured: true).status == .fail)
        #expect(PoolingAudit.check(.init(requests: .transaction, owner: .transaction), configured: false).status == .fail)
    }

    /// 8 client connections on 2 server sessions, 160 transactions as 40 different users at once.
    static func storm(_ client: PostgresClient, users: [UUID]) async -> (ok: Int, failures: [String]) {
        await withTaskGroup(of: String?.self) { group in
            for index in 0..<160 {
                let user = users[index % users.count]
                group.addTask {
                    do {
                        let seen = try await client.withCaller(Fixtures.caller(user), readOnly: true, logger: testLogger) { connection in
                            try await connection.query("SELECT auth.uid()", logger: testLogger).decode(UUID?.self).first { _ in true } ?? nil
                        }
                        return seen == user ? nil : "transaction of \(user) saw \(String(describing: seen))"
                    } catch {
                        return String(reflecting: error)
                    }
                }
            }
            var ok = 0
            var failures: [String] = []
            for await failure in group {
                if let failure { failures.append(failure) } else { ok += 1 }
            }
            return (ok, failures)
        }
    }

    @Test("named statements off: every transaction works, each sees only its own caller, nothing leaks out")
    func unnamed() async throws {
        let database = try await TestDatabase.migrated()
        let bouncer = try TestPgBouncer(in: database)
        defer { bouncer.stop(); StatementMode.setNamedStatements(true) }
        let users = try await database.withClient { client in
            var users: [UUID] = []
            for index in 0..<40 { users.append(try await Fixtures.createUser(client, username: "pooled_\(index)")) }
            return users
        }
        StatementMode.setNamedStatements(false)
        let client = PostgresClient(configuration: .init(url: bouncer.url, poolSize: 8), backgroundLogger: testLogger)
        let (ok, failures, leaked) = try await withRunningClient(client) { client in
            let (ok, failures) = await Self.storm(client, users: users)
            // Outside any transaction, on the shared sessions: no caller's claims or role remain.
            var leaked: [String] = []
            for _ in 0..<8 {
                for try await (claims, role) in try await client.query(
                    "SELECT coalesce(current_setting('request.jwt.claims', true), ''), current_user::text"
                ).decode((String, String).self) where !claims.isEmpty || role != database.url.username {
                    leaked.append("\(role) \(claims)")
                }
            }
            return (ok, failures, leaked)
        }
        #expect(failures.isEmpty, "\(failures.prefix(3))")
        #expect(ok == 160)
        #expect(leaked.isEmpty, "\(leaked.prefix(3))")
    }

    @Test("named statements on through the pooler: names prepared on one session are missing on another")
    func named() async throws {
        let database = try await TestDatabase.migrated()
        let bouncer = try TestPgBouncer(in: database)
        defer { bouncer.stop() }
        let users = try await database.withClient { client in [try await Fixtures.createUser(client, username: "named_one")] }
        StatementMode.setNamedStatements(true)
        let client = PostgresClient(configuration: .init(url: bouncer.url, poolSize: 8), backgroundLogger: testLogger)
        let (_, failures) = try await withRunningClient(client) { await Self.storm($0, users: users) }
        #expect(failures.contains { $0.contains("prepared statement") }, "\(failures.prefix(3))")
    }
}
