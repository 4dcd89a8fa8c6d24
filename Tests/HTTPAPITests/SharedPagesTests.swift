import Database
import Foundation
import HTTPTypes
import PostgresNIO
import Testing
import TestSupport

/// Profile, entity and nearby pages shared between viewers (`SharedPages`), and profile pages shared between a profile's followers: on random worlds — private profiles, an
/// admin, follows, blocks both ways, followers-only and private posts, mentions of public and private
/// profiles, likes — every viewer's answer for every profile, through the cache and shared or not,
/// equals what the feed answers that viewer under its own role and RLS; and after follows and
/// blocks made through the API, still.
@Suite("Shared profile, entity and nearby pages agree with the policies")
struct SharedPagesTests {
    struct World {
        var users: [UUID] = []
        var entities: [UUID] = []
    }

    static func build(seed: UInt64, on client: PostgresClient) async throws -> World {
        var random = SeededGenerator(seed: seed)
        var world = World()
        for index in 0..<7 {
            world.users.append(try await Fixtures.createUser(
                client, username: "shared_\(seed)_\(index)", isPrivate: random.chance(0.3), admin: index == 6))
        }
        let users = world.users
        for follower in users {
            for followed in users where followed != follower && random.chance(0.35) {
                try await Fixtures.follow(client, follower: follower, followed: followed)
            }
        }
        for blocker in users {
            for blocked in users where blocked != blocker && random.chance(0.08) {
                try await Fixtures.block(client, blocker: blocker, blocked: blocked)
            }
        }
        for index in 0..<2 {
            let id = UUID()
            try await client.query("INSERT INTO public.entities (id, kind, name) VALUES (\(id), 'place', \("place \(index)"))")
            world.entities.append(id)
        }
        // The first place is on the map, in the circle the nearby feeds read.
        try await client.query("""
            UPDATE public.entities SET location = extensions.st_setsrid(extensions.st_makepoint(2.35, 48.85), 4326)::extensions.geography
            WHERE id = \(world.entities[0])
            """)
        var posts: [UUID] = []
        for index in 0..<30 {
            let author = users[random.below(users.count)]
            let visibility = ["public", "public", "public", "followers", "private"][random.below(5)]
            let post = try await Fixtures.createPost(client, author: author, body: "post \(index)", visibility: visibility)
            posts.append(post)
            if random.chance(0.6) {
                let entity = world.entities[random.below(world.entities.count)]
                try await client.query("INSERT INTO public.post_targets (post_id, target_entity_id) VALUES (\(post), \(entity))")
            }
            if random.chance(0.5) {
                // Near the circle's centre (within about 2 km) or far away.
                let (latitude, longitude) = random.chance(0.8)
                    ? (48.85 + Double(random.below(30)) / 2000, 2.35 + Double(random.below(30)) / 2000) : (40.7, -74.0)
                try await client.query("""
                    UPDATE public.posts
                    SET location = extensions.st_setsrid(extensions.st_makepoint(\(longitude), \(latitude)), 4326)::extensions.geography
                    WHERE id = \(post)
                    """)
            }
            if random.chance(0.4) {
                let mentioned = users[random.below(users.count)]
                try await client.query("INSERT INTO public.post_targets (post_id, target_profile_id) VALUES (\(post), \(mentioned))")
            }
        }
        for _ in 0..<20 {
            let post = posts[random.below(posts.count)], liker = users[random.below(users.count)]
            try await client.query("INSERT INTO public.post_likes (post_id, profile_id) VALUES (\(post), \(liker)) ON CONFLICT DO NOTHING")
        }
        return world
    }

    /// Rows as comparable text: every field, keys sorted.
    static func canonical(_ rows: Any?) -> [String] {
        ((rows as? [[String: Any]]) ?? []).map { row in
            String(decoding: (try? JSONSerialization.data(withJSONObject: row, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
        }
    }

    static func expectAgreement(
        _ rest: RestTestClient, _ world: World, _ database: TestDatabase, _ what: String
    ) async throws -> [String: Int] {
        var shared: [String: Int] = [:]
        // Small pages (limit 3) so that pages end inside the feed and the cursor is exercised too.
        typealias Feed = (function: String, arguments: [String: Any], sql: @Sendable (String?) -> PostgresQuery)
        var feeds: [Feed] = world.users.map { subject in
            ("feed_fusion_profile", ["p_profile_id": subject.uuidString], { below in
                "SELECT coalesce(json_agg(to_json(f)), '[]')::text FROM public.feed_fusion_profile(\(subject), 3, \(below)) f"
            })
        }
        feeds += world.entities.map { subject in
            ("feed_fusion_entity", ["p_entity_id": subject.uuidString], { below in
                "SELECT coalesce(json_agg(to_json(f)), '[]')::text FROM public.feed_fusion_entity(\(subject), 3, \(below)) f"
            })
        }
        // Two circles: one holding the place and most located posts, a small one holding some.
        for (latitude, longitude, radius) in [(48.85, 2.35, 5000), (48.851, 2.351, 400)] {
            feeds.append(("feed_fusion_nearby", ["p_lat": latitude, "p_lng": longitude, "p_radius_m": radius], { below in
                """
                SELECT coalesce(json_agg(to_json(f)), '[]')::text
                FROM public.feed_fusion_nearby(\(latitude), \(longitude), \(radius)::int, 3, \(below)) f
                """
            }))
        }
        for viewer in world.users {
            let client = rest.callAs(try await RestTestClient.token(for: viewer))
            for (function, subject, sql) in feeds {
                var cursor: String?
                for page in 1...3 {
                    let below = cursor
                    let expected = try await database.withClient { db in
                        try await db.withCaller(Fixtures.caller(viewer), readOnly: true, logger: database.logger) { connection in
                            var json = "[]"
                            for try await row in try await connection.query(sql(below), logger: database.logger).decode(String.self) { json = row }
                            return json
                        }
                    }
                    let wanted = canonical(try JSONSerialization.jsonObject(with: Data(expected.utf8)))
                    var arguments: [String: Any] = subject
                    arguments["p_limit"] = 3
                    if let cursor { arguments["p_cursor"] = cursor }
                    // Twice: computed (or shared), then from the cache.
                    var last: RestTestClient.Reply?
                    for round in 1...2 {
                        let reply = try await client.send(.post, "/rpc/\(function)", json: arguments)
                        #expect(reply.status == .ok)
                        if reply["Cache-Status"]?.contains("detail=shared-followers") == true {
                            shared["followers", default: 0] += 1
                        } else if reply["Cache-Status"]?.contains("detail=shared") == true {
                            shared[function, default: 0] += 1
                        }
                        #expect(canonical(reply.json) == wanted, "\(what): \(function) \(subject) page \(page) seen by \(viewer), round \(round), \(reply["Cache-Status"] ?? "-")")
                        last = reply
                    }
                    guard let next = last?.rows.last?["cursor"] as? String, last?.rows.count == 3 else { break }
                    cursor = next
                }
            }
        }
        return shared
    }

    @Test("every viewer, every profile, entity and circle, page by page: the served page is the viewer's own under RLS", arguments: [1, 2, 3] as [UInt64])
    func agreement(seed: UInt64) async throws {
        let database = try await TestDatabase.migrated()
        let world = try await database.withClient { try await Self.build(seed: seed, on: $0) }
        let app = try await TestApp.make(url: database.url)
        let key = try await app.apiKey(.anon)
        try await app.application.test(.router) { client in
            let rest = RestTestClient(client: client, apiKey: key)
            let shared = try await Self.expectAgreement(rest, world, database, "seed \(seed)")
            for function in ["feed_fusion_profile", "feed_fusion_entity", "feed_fusion_nearby", "followers"] {
                #expect(shared[function, default: 0] > 0, "no \(function) page was shared: the test would prove nothing for it")
            }

            // Relations change through the API (each write waits for its announcement): a follow, an
            // unfollow, a block, a like — and every answer still agrees.
            var random = SeededGenerator(seed: seed &+ 7)
            let users = world.users
            let a = rest.callAs(try await RestTestClient.token(for: users[0]))
            let b = rest.callAs(try await RestTestClient.token(for: users[1]))
            _ = try await a.send(.post, "/rpc/follow_profile", json: ["p_profile_id": users[2 + random.below(3)].uuidString])
            _ = try await a.send(.post, "/rpc/unfollow_profile", json: ["p_profile_id": users[2 + random.below(3)].uuidString])
            _ = try await b.send(.post, "/rpc/block_profile", json: ["p_profile_id": users[2 + random.below(3)].uuidString])
            let publicPosts = try await database.withClient { db in
                try await db.query("SELECT id FROM public.posts WHERE visibility = 'public'").decode(UUID.self).reduce(into: [UUID]()) { $0.append($1) }
            }
            if let post = publicPosts.first { _ = try await b.send(.post, "/rpc/like_post", json: ["p_post_id": post.uuidString]) }
            _ = try await Self.expectAgreement(rest, world, database, "seed \(seed), changed")
        }
    }
}
