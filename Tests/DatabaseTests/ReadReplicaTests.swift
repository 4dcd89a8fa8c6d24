import AppConfig
import Database
import Foundation
import Logging
import PostgresNIO
import Testing
import TestSupport

/// Read routing (issue 22) against a real streaming replica: a read goes to the replica only once
/// it has replayed every write the server knows of; a paused, lagging or stopped replica is not read.
@Suite("Read replicas", .serialized)
struct ReadReplicaTests {
    @Test("routed to the replica only when it has replayed the last write; a paused or stopped one is skipped")
    func routing() async throws {
        let database = try await TestDatabase.migrated()
        let replica = try TestReplica(of: database)
        defer { replica.stop() }
        let primary = PostgresClient(configuration: .init(url: database.url, poolSize: 2), backgroundLogger: testLogger)
        let standby = PostgresClient(configuration: .init(url: replica.url(of: database), poolSize: 2), backgroundLogger: testLogger)
        try await withRunningClient(primary) { primary in
            try await withRunningClient(standby) { standby in
                let replicas = ReadReplicas(
                    primary: primary, replicas: [.init(name: "replica-1", client: standby)], maxLag: .milliseconds(500),
                    pollInterval: .milliseconds(50), logger: testLogger)
                let watcher = Task { await replicas.watch() }
                defer { watcher.cancel() }
                // Caught up: reads go to the replica, which answers what the primary wrote.
                let user = try await Fixtures.createUser(primary, username: "replicated")
                await replicas.writeCommitted()
                #expect(try await eventually(attempts: 200) { await replicas.clientForRead() != nil }, "the replica is read")
                let seen = try await standby.query("SELECT count(*)::int FROM public.profiles WHERE id = \(user)")
                    .decode(Int.self).first { _ in true }
                #expect(seen == 1)

                // Replay paused: the next write is not on the replica, so reads stay on the primary.
                try await standby.query("SELECT pg_wal_replay_pause()")
                try await Fixtures.createPost(primary, author: user, body: "written while the replica waits")
                await replicas.writeCommitted()
                for _ in 0..<10 {
                    #expect(await replicas.clientForRead() == nil)
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect((replicas.status.lags.first?.seconds ?? 0) > 0)
                // Resumed: back to the replica once it has the post.
                try await standby.query("SELECT pg_wal_replay_resume()")
                #expect(try await eventually(attempts: 200) { await replicas.clientForRead() != nil }, "the replica is read again")
                let posts = try await standby.query("SELECT count(*)::int FROM public.posts WHERE author_id = \(user)")
                    .decode(Int.self).first { _ in true }
                #expect(posts == 1)

                // Stopped: never read.
                replica.stop()
                #expect(try await eventually(attempts: 200) { await replicas.clientForRead() == nil }, "the stopped replica is skipped")
                #expect(replicas.status.lags.first?.seconds == nil)
            }
        }
    }

    @Test("WAL positions parse and order as PostgreSQL's pg_lsn")
    func positions() {
        #expect(WALPosition("0/16B3748")?.value == 0x16B3748)
        #expect(WALPosition("1/0")! > WALPosition("0/FFFFFFFF")!)
        #expect(WALPosition("2/A")?.description == "2/A")
        #expect(WALPosition("nonsense") == nil)
    }
}
