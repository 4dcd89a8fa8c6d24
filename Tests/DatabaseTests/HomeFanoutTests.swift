import Database
import Foundation
import Logging
import PostgresNIO
import Testing
import TestSupport

/// `internal.home_fanout` (migration 0021) spells the policies out for an explicit viewer, so that
/// the server can put a new post on hundreds of cached homes with one query. Here it is held to the
/// policies themselves: on random worlds, for every post and every viewer, it answers a row exactly
/// when that viewer's home feed (read under the viewer's role and RLS) has the post, and the very
/// row the feed answers — before and after follows, unfollows, blocks, privacy and visibility
/// changes, likes and deletions.
@Suite("Home fan-out agrees with the policies")
struct HomeFanoutTests {
    /// Every row of `viewer`'s home feed as the RPC serializes it, by post id.
    static func home(_ client: PostgresClient, _ viewer: UUID, logger: Logger) async throws -> [UUID: String] {
        var rows: [UUID: String] = [:]
        var cursor: String?
        for _ in 0..<100 {
            let page = try await client.withCaller(Fixtures.caller(viewer), readOnly: true, logger: logger) { [cursor] connection in
                var page: [(UUID, String, String)] = []
                let query: PostgresQuery = "SELECT f.id, to_json(f)::text, f.cursor FROM public.feed_fusion_home(100, \(cursor)) f"
                for try await row in try await connection.query(query, logger: logger).decode((UUID, String, String).self) {
                    page.append(row)
                }
                return page
            }
            for (id, json, _) in page { rows[id] = json }
            guard page.count == 100, let last = page.last else { break }
            cursor = last.2
        }
        return rows
    }

    static func expectAgreement(_ client: PostgresClient, _ model: FeedModel, _ what: String, logger: Logger) async throws {
        var expected: [UUID: [UUID: String]] = [:]  // post → viewer → row
        for viewer in model.users {
            for (post, row) in try await home(client, viewer, logger: logger) { expected[post, default: [:]][viewer] = row }
        }
        let posts = try await client.query("SELECT id FROM public.posts").decode(UUID.self).reduce(into: [UUID]()) { $0.append($1) }
        var compared = 0
        // Asked two ways (migration 0035): for many viewers at once (the fan-out to cached homes,
        // found from the post's side; ids of nobody make the list long enough) and for each viewer
        // alone (a follow's merge, found by probing that viewer's keys).
        let nobody = (0..<9).map { _ in UUID() }
        let askings: [(String, [[UUID]])] = [("all viewers", [model.users + nobody]), ("each alone", model.users.map { [$0] })]
        for post in posts {
            for (asking, lists) in askings {
                var fannedOut: [UUID: String] = [:]
                for viewers in lists {
                    for try await (viewer, item) in try await client.query(
                        "SELECT viewer, item FROM internal.home_fanout(\(post), \(viewers))", logger: logger
                    ).decode((UUID, String).self) {
                        fannedOut[viewer] = item
                    }
                }
                let wanted = expected[post] ?? [:]
                #expect(Set(fannedOut.keys) == Set(wanted.keys), "\(what), \(asking): viewers of post \(post)")
                for (viewer, row) in wanted where fannedOut[viewer] != nil {
                    #expect(fannedOut[viewer] == row, "\(what), \(asking): post \(post) for \(viewer)")
                    compared += 1
                }
            }
        }
        #expect(compared > 0, "\(what): no post was in any home")
    }

    @Test("every post, every viewer, the same rows as the home feed under RLS", arguments: [1, 2, 3] as [UInt64])
    func agreement(seed: UInt64) async throws {
        let database = try await TestDatabase.migrated()
        let logger = database.logger
        try await database.withClient { client in
            let model = try await FeedModel.build(seed: seed, on: client)
            var random = SeededGenerator(seed: seed &+ 100)
            // Some likes, so that liked_by_viewer is true somewhere.
            for post in model.posts.shuffled(using: &random).prefix(6) {
                let liker = model.users.randomElement(using: &random)!
                try await client.query("INSERT INTO public.post_likes (post_id, profile_id) VALUES (\(post.id), \(liker)) ON CONFLICT DO NOTHING")
            }
            try await Self.expectAgreement(client, model, "seed \(seed)", logger: logger)

            // The world changes: a follow, an unfollow, a block, a profile going private, a post
            // turning followers-only, another deleted — and the two still agree.
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
            try await client.query("DELETE FROM public.posts WHERE id = \(posts[1].id)")
            try await Self.expectAgreement(client, model, "seed \(seed), changed", logger: logger)
        }
    }
}
