import Database
import Foundation
import PostgresNIO
import Redis
import Testing
import TestSupport

@testable import HTTPAPI

/// Read replicas with several instances (issue 22): a write through one instance keeps every other
/// instance's reads off a replica that has not replayed it, through the position shared in Redis;
/// with Redis away, reads go to the primary rather than risk an older state.
@Suite("Read replicas across instances", .serialized)
struct SharedWritePositionTests {
    @Test("a write through A sends B's reads to the primary until the replica has it; Redis away: the primary")
    func acrossInstances() async throws {
        let database = try await TestDatabase.migrated()
        let replica = try TestReplica(of: database)
        let redisServer = try TestRedis()
        defer { replica.stop(); redisServer.stop() }
        let redis = RedisClient(RedisClient.Configuration(endpoint: RedisEndpoint(host: "127.0.0.1", port: redisServer.port)))
        defer { redis.close() }
        let primary = PostgresClient(configuration: .init(url: database.url, poolSize: 2), backgroundLogger: testLogger)
        let standby = PostgresClient(configuration: .init(url: replica.url(of: database), poolSize: 2), backgroundLogger: testLogger)
        try await withRunningClient(primary) { primary in
            try await withRunningClient(standby) { standby in
                func instance(shared: Bool) -> ReadReplicas {
                    ReadReplicas(
                        primary: primary, replicas: [.init(name: "replica-1", client: standby)],
                        shared: shared ? RedisWritePosition(redis: redis) : nil, maxLag: .seconds(30), pollInterval: .milliseconds(50),
                        logger: testLogger)
                }
                let a = instance(shared: true), b = instance(shared: true), alone = instance(shared: false)
                let watchers = [a, b, alone].map { replicas in Task { await replicas.watch() } }
                defer { watchers.forEach { $0.cancel() } }
                #expect(try await eventually(attempts: 200) { await b.clientForRead() != nil }, "B reads the caught-up replica")

                try await standby.query("SELECT pg_wal_replay_pause()")
                let user = try await Fixtures.createUser(primary, username: "through_a")
                await a.writeCommitted()
                for _ in 0..<10 {
                    #expect(await b.clientForRead() == nil, "B must not read a replica missing A's write")
                    try await Task.sleep(for: .milliseconds(30))
                }
                // Without the shared position B would have (the gap this closes).
                #expect(await alone.clientForRead() != nil)
                try await standby.query("SELECT pg_wal_replay_resume()")
                #expect(try await eventually(attempts: 200) { await b.clientForRead() != nil }, "B reads the replica once it has the write")
                let seen = try await standby.query("SELECT count(*)::int FROM public.profiles WHERE id = \(user)").decode(Int.self)
                    .first { _ in true }
                #expect(seen == 1)

                // Redis away: B cannot know what others wrote, so it reads the primary.
                redisServer.stop()
                #expect(await b.clientForRead() == nil)
            }
        }
    }
}
