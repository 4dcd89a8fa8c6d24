import Auth
import Database
import Foundation
import Logging
import PostgresNIO
import Seeding
import Testing
import TestSupport

@Suite("Seed data generator")
struct SeedLoaderTests {
    static func plan(seed: UInt64) -> SeedPlan {
        var plan = SeedPlan()
        plan.seed = seed
        plan.users = 60
        plan.posts = 3000
        plan.entities = 12
        plan.endMicroseconds = 1_790_000_000_000_000
        return plan
    }

    static func load(_ plan: SeedPlan, into database: TestDatabase, reset: Bool = false) async throws -> SeedLoader.Summary {
        let hash = try await PasswordHasher(cost: 4).hash("Seeded-\(plan.seed)-Fusion!Feed")
        let loader = SeedLoader(plan: plan, passwordHash: hash) { _, _, _ in }
        return try await database.withClient { client in
            try await client.withConnection { try await loader.load(on: $0, reset: reset, logger: database.logger) }
        }
    }

    static func fingerprint(_ database: TestDatabase) async throws -> [String] {
        try await database.withClient { client in
            try await client.withConnection { connection in
                try await connection.strings("""
                    SELECT concat_ws(' ',
                        (SELECT md5(string_agg(id::text || author_id || visibility || created_at || coalesce(location::text, ''), ',' ORDER BY id)) FROM public.posts),
                        (SELECT md5(string_agg(f, ',' ORDER BY f)) FROM (SELECT follower_id::text || coalesce(followed_profile_id::text, followed_entity_id::text) || status AS f FROM public.follows) x),
                        (SELECT md5(string_agg(l, ',' ORDER BY l)) FROM (SELECT post_id::text || profile_id AS l FROM public.post_likes) y))
                    """, logger: database.logger)
            }
        }
    }

    @Test("the same seed gives the same data; the rows are consistent with what triggers and policies expect")
    func reproducibleAndConsistent() async throws {
        let first = try await TestDatabase.migrated()
        let second = try await TestDatabase.migrated()
        let summary = try await Self.load(Self.plan(seed: 7), into: first)
        _ = try await Self.load(Self.plan(seed: 7), into: second)
        #expect(try await Self.fingerprint(first) == Self.fingerprint(second))
        #expect(summary.rows.first { $0.table == "public.posts" }?.count == 3000)
        #expect((summary.heaviestFollower?.follows ?? 0) > (summary.medianUser?.follows ?? 0))

        try await first.withClient { client in
            let logger = first.logger
            // What the triggers would have written, the generator wrote (the followed-profiles arrays
            // too, in the ascending order the policies binary-search).
            let inconsistent = try await client.withConnection { connection in
                try await connection.strings("""
                    SELECT concat_ws(',',
                        (SELECT count(*) FROM public.posts p JOIN public.profiles pr ON pr.id = p.author_id WHERE p.author_private <> pr.is_private),
                        (SELECT count(*) FROM public.posts p WHERE p.like_count <> (SELECT count(*) FROM public.post_likes l WHERE l.post_id = p.id)),
                        (SELECT count(*) FROM public.post_targets t JOIN public.posts p ON p.id = t.post_id
                            WHERE (t.post_created_at, t.post_author_id, t.post_visibility, t.post_author_private)
                                  IS DISTINCT FROM (p.created_at, p.author_id, p.visibility, p.author_private)),
                        (SELECT count(*) FROM public.follows f JOIN public.blocks b ON (b.blocker_id, b.blocked_id) IN ((f.follower_id, f.followed_profile_id), (f.followed_profile_id, f.follower_id))),
                        (SELECT count(*) FROM public.posts WHERE visibility NOT IN ('public', 'followers', 'private')),
                        (SELECT count(*) FROM public.profiles pr
                            WHERE coalesce((SELECT profiles FROM internal.followed_profiles WHERE user_id = pr.id), '{}')
                               <> coalesce((SELECT array_agg(followed_profile_id ORDER BY followed_profile_id) FROM public.follows
                                            WHERE follower_id = pr.id AND status = 'accepted' AND followed_profile_id IS NOT NULL), '{}')))
                    """, logger: logger)
            }
            #expect(inconsistent == ["0,0,0,0,0,0"])
            // A seeded user's password verifies, and their home feed answers.
            let (id, hash) = try await client.withConnection { connection in
                for try await row in try await connection.query(
                    "SELECT id, encrypted_password FROM auth.users ORDER BY email LIMIT 1", logger: logger
                ).decode((UUID, String).self) { return row }
                throw CancellationError()
            }
            #expect(try await PasswordHasher(cost: 4).verify("Seeded-7-Fusion!Feed", hash: hash))
            let home = try await client.withCaller(Fixtures.caller(id), logger: logger) { connection in
                try await connection.strings("SELECT id::text FROM public.feed_fusion_home(20, NULL)", logger: logger)
            }
            #expect(home.count == 20)
        }
    }

    @Test("an existing data set is kept unless --reset is given")
    func refusesToOverwrite() async throws {
        let database = try await TestDatabase.migrated()
        _ = try await Self.load(Self.plan(seed: 1), into: database)
        await #expect(throws: SeedError.self) { _ = try await Self.load(Self.plan(seed: 2), into: database) }
        _ = try await Self.load(Self.plan(seed: 2), into: database, reset: true)
        let users = try await database.withClient { client in
            try await client.withConnection { try await $0.strings("SELECT count(*)::text FROM auth.users", logger: database.logger) }
        }
        #expect(users == ["60"])
    }
}
