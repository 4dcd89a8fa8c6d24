import Database
import Foundation
import Logging
import PostgresNIO
import Testing
import TestSupport

/// `realtime.post_for_readers` (migration 0025) spells the posts policy out set-wise, so that one
/// query finds which of a thousand subscribers may receive a changed post. Here it is held to the
/// policy itself: on random worlds, for every post, the readers it names are exactly the users who
/// can select the post under their role and RLS, and each gets the very row they would select —
/// also after a follow, an unfollow, a block, a profile turned private and a post turned
/// followers-only.
@Suite("Realtime post readers agree with the policies")
struct RealtimePostReadersTests {
    static func expectAgreement(_ client: PostgresClient, _ model: FeedModel, _ what: String, logger: Logger) async throws {
        var underRLS: [UUID: [UUID: String]] = [:]  // post → user → row
        for user in model.users {
            let rows = try await client.withCaller(Fixtures.caller(user), readOnly: true, logger: logger) { connection in
                try await connection.query("SELECT p.id, to_jsonb(p)::text FROM public.posts p", logger: logger)
                    .decode((UUID, String).self).reduce(into: [(UUID, String)]()) { $0.append($1) }
            }
            for (post, row) in rows { underRLS[post, default: [:]][user] = row }
        }
        let posts = try await client.query("SELECT id FROM public.posts").decode(UUID.self).reduce(into: [UUID]()) { $0.append($1) }
        var readersSeen = 0
        for post in posts {
            var named: [UUID: String] = [:]
            for try await (viewer, row) in try await client.query(
                "SELECT viewer, record::text FROM realtime.post_for_readers(\(post), \(model.users))", logger: logger
            ).decode((UUID, String).self) {
                named[viewer] = row
            }
            let wanted = underRLS[post] ?? [:]
            #expect(Set(named.keys) == Set(wanted.keys), "\(what): readers of post \(post)")
            for (user, row) in wanted where named[user] != nil {
                #expect(try JSONValueText(named[user]!) == JSONValueText(row), "\(what): post \(post) as \(user)")
                readersSeen += 1
            }
        }
        #expect(readersSeen > 0 && readersSeen < posts.count * model.users.count, "\(what): some readers, not everyone everywhere")
    }

    /// Row text compared as parsed JSON (key order is the same, but this is not what is asserted).
    static func JSONValueText(_ text: String) throws -> NSDictionary {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary ?? [:]
    }

    @Test("every post: the readers and rows RLS gives each user", arguments: [1, 2, 3] as [UInt64])
    func agreement(seed: UInt64) async throws {
        let database = try await TestDatabase.migrated()
        let logger = database.logger
        try await database.withClient { client in
            let model = try await FeedModel.build(seed: seed, on: client)
            try await Self.expectAgreement(client, model, "seed \(seed)", logger: logger)
            var random = SeededGenerator(seed: seed &+ 200)
            let users = model.users.shuffled(using: &random)
            try await client.query("""
                INSERT INTO public.follows (follower_id, followed_profile_id, status) VALUES (\(users[0]), \(users[1]), 'accepted')
                ON CONFLICT DO NOTHING
                """)
            try await client.query("DELETE FROM public.follows WHERE follower_id = \(users[2]) AND followed_profile_id IS NOT NULL")
            try await client.query("INSERT INTO public.blocks (blocker_id, blocked_id) VALUES (\(users[3]), \(users[4])) ON CONFLICT DO NOTHING")
            try await client.query("UPDATE public.profiles SET is_private = NOT is_private WHERE id = \(users[5])")
            let posts = model.posts.shuffled(using: &random)
            try await client.query("UPDATE public.posts SET visibility = 'followers' WHERE id = \(posts[0].id)")
            try await Self.expectAgreement(client, model, "seed \(seed), changed", logger: logger)
        }
    }
}
