import Database
import FeedCache
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
        // An anonymous reader first (nil): the pages it computes are the ones signed-in viewers share.
        for viewer in [nil] + world.users.map(Optional.some) {
            var client = rest
            if let viewer { client = rest.callAs(try await RestTestClient.token(for: viewer)) }
            let caller = viewer.map(Fixtures.caller) ?? .anonymous
            for (function, subject, sql) in feeds {
                var cursor: String?
                for page in 1...3 {
                    let below = cursor
                    let expected = try await database.withClient { db in
                        try await db.withCaller(caller, readOnly: true, logger: database.logger) { connection in
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
                        } else if reply["Cache-Status"]?.contains("detail=shared-view") == true {
                            shared["view", default: 0] += 1
                        } else if reply["Cache-Status"]?.contains("detail=shared") == true {
                            shared[function, default: 0] += 1
                        }
                        #expect(canonical(reply.json) == wanted, "\(what): \(function) \(subject) page \(page) seen by \(viewer.map(\.uuidString) ?? "anon"), round \(round), \(reply["Cache-Status"] ?? "-")")
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
            for function in ["feed_fusion_profile", "feed_fusion_entity", "feed_fusion_nearby", "followers", "view"] {
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

            // New posts through the API, of each visibility, by profiles whose shared first pages are
            // cached (every page was just read): put on those pages instead of dropping them
            // (`ProfilePost`), and every answer, shared or not, still agrees.
            let work = app.dependencies.cachedRPCs.cache.listenerWork
            let pushedBefore = work.snapshot.profilePagesPushed
            for (index, visibility) in ["public", "followers", "private", "public", "followers", "public"].enumerated() {
                let author = rest.callAs(try await RestTestClient.token(for: users[index % 4]))
                let reply = try await author.send(.post, "/rpc/create_post", json: ["p_body": "new \(index)", "p_visibility": visibility])
                #expect(reply.status == .ok)
            }
            #expect(work.snapshot.profilePagesPushed > pushedBefore, "no profile page took a new post: the test would prove nothing for it")
            _ = try await Self.expectAgreement(rest, world, database, "seed \(seed), posted")
        }
    }

    /// The most-followed profiles' and entities' first pages are computed when the server starts
    /// (`SharedPagePrimer`): each one's first read — anonymous, or by a signed-in viewer whose view it
    /// is — is a hit, and every answer still agrees with the feed under the reader's own role; a post
    /// by a primed profile drops its page (the next read shows the post).
    @Test("the most-followed profiles' and entities' first pages are computed at start, and agree with the policies")
    func primedAtStart() async throws {
        let database = try await TestDatabase.migrated()
        let world = try await database.withClient { try await Self.build(seed: 4, on: $0) }
        try await database.withClient { db in
            for user in world.users.prefix(3) {
                try await db.query("INSERT INTO public.follows (follower_id, followed_entity_id) VALUES (\(user), \(world.entities[0]))")
            }
        }
        let subjects = try await database.withClient { db in
            try await db.query("""
                SELECT DISTINCT coalesce(followed_profile_id, followed_entity_id), followed_entity_id IS NOT NULL FROM public.follows
                WHERE status = 'accepted'
                """).decode((UUID, Bool).self).reduce(into: [(UUID, Bool)]()) { $0.append($1) }
        }
        #expect(subjects.count > 3)
        let app = try await TestApp.make(url: database.url) { $0.cache.primePages = 1000 }
        let primer = try #require(app.dependencies.sharedPagePrimer)
        let key = try await app.apiKey(.anon)
        try await app.application.test(.router) { client in
            let rest = RestTestClient(client: client, apiKey: key)
            #expect(try await eventually(attempts: 200) { primer.outcomes.built == subjects.count })
            #expect(primer.outcomes.failed == 0)
            for (subject, isEntity) in subjects {
                let (function, argument) = isEntity ? ("feed_fusion_entity", "p_entity_id") : ("feed_fusion_profile", "p_profile_id")
                // Written as another client might: the arguments in another order, the default limit spelled out.
                let reply = try await rest.send(.post, "/rpc/\(function)", raw: #"{ "p_limit": 20, "\#(argument)": "\#(subject.uuidString)" }"#)
                #expect(reply.status == .ok)
                #expect(reply["Cache-Status"]?.contains("; hit") == true, "\(function) \(subject): \(reply["Cache-Status"] ?? "-")")
            }
            _ = try await Self.expectAgreement(rest, world, database, "primed")

            // A primed profile posts: the post is put on its page, and the next read, a hit, shows it.
            let author = try #require(subjects.first { !$0.1 }?.0)
            let before = try await rest.send(.post, "/rpc/feed_fusion_profile", json: ["p_profile_id": author.uuidString])
            let posted = try await rest.callAs(try await RestTestClient.token(for: author))
                .send(.post, "/rpc/create_post", json: ["p_body": "after priming", "p_visibility": "public"])
            #expect(posted.status == .ok)
            let after = try await rest.send(.post, "/rpc/feed_fusion_profile", json: ["p_profile_id": author.uuidString])
            #expect(after.rows.first?["body"] as? String == "after priming", "before: \(before.rows.count) rows; after: \(after["Cache-Status"] ?? "-")")
            #expect(after["Cache-Status"]?.contains("; hit") == true, "\(after["Cache-Status"] ?? "-")")
            #expect(after.rows.count == min(before.rows.count + 1, 20))
        }
    }

    /// Two viewers who see the same posts on an entity page (both follow the author of a
    /// followers-only post there, so neither sees the anonymous page) share one page — unless a
    /// mention on it shows to one and not the other: a private profile mentioned there, followed by
    /// the first reader only, must not reach the second through the shared page.
    @Test("a page shared by viewers who see the same posts keeps each viewer's mentions their own")
    func sameViewKeepsMentionsApart() async throws {
        let database = try await TestDatabase.migrated()
        let (first, second, third, entity, hidden) = try await database.withClient { db in
            let author = try await Fixtures.createUser(db, username: "view_author")
            let secret = try await Fixtures.createUser(db, username: "view_secret", isPrivate: true)
            let first = try await Fixtures.createUser(db, username: "view_first")
            let second = try await Fixtures.createUser(db, username: "view_second")
            let third = try await Fixtures.createUser(db, username: "view_third")
            for viewer in [first, second, third] { try await Fixtures.follow(db, follower: viewer, followed: author) }
            try await Fixtures.follow(db, follower: first, followed: secret)
            let entity = UUID()
            try await db.query("INSERT INTO public.entities (id, kind, name) VALUES (\(entity), 'topic', 'views')")
            var hidden = UUID()
            for index in 0..<4 {
                let post = try await Fixtures.createPost(db, author: author, body: "view \(index)", visibility: index == 1 ? "followers" : "public")
                try await db.query("INSERT INTO public.post_targets (post_id, target_entity_id) VALUES (\(post), \(entity))")
                if index == 2 {
                    try await db.query("INSERT INTO public.post_targets (post_id, target_profile_id) VALUES (\(post), \(secret))")
                    hidden = secret
                }
            }
            return (first, second, third, entity, hidden)
        }
        let app = try await TestApp.make(url: database.url)
        let key = try await app.apiKey(.anon)
        try await app.application.test(.router) { client in
            let rest = RestTestClient(client: client, apiKey: key)
            func read(_ viewer: UUID) async throws -> RestTestClient.Reply {
                try await rest.callAs(try await RestTestClient.token(for: viewer))
                    .send(.post, "/rpc/feed_fusion_entity", json: ["p_entity_id": entity.uuidString])
            }
            func mentions(_ reply: RestTestClient.Reply) -> [String] {
                reply.rows.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } }.map { $0.lowercased() }
            }
            // The third viewer sees what the second does: the page computed for the second is shared with them.
            let two = try await read(second)
            #expect(two.rows.count == 4)
            #expect(!mentions(two).contains(hidden.uuidString.lowercased()), "\(two["Cache-Status"] ?? "-")")
            let three = try await read(third)
            #expect(three["Cache-Status"]?.contains("detail=shared-view") == true, "\(two["Cache-Status"] ?? "-") then \(three["Cache-Status"] ?? "-")")
            #expect(!mentions(three).contains(hidden.uuidString.lowercased()))
            // The first sees the same posts, but the mention too: not that page.
            let one = try await read(first)
            #expect(one.rows.count == 4)
            #expect(mentions(one).contains(hidden.uuidString.lowercased()), "the follower of the private profile: \(one["Cache-Status"] ?? "-")")
        }
    }

    /// A follow or unfollow corrects the follower's kept relations in place (its announcement says
    /// the follow's status, migration 0036): their next shared read needs no database round trip for
    /// them, and the pages they are served follow the change at once.
    @Test("a follow corrects the follower's relations in place: shared pages follow it without reading them again")
    func followKeepsRelations() async throws {
        let database = try await TestDatabase.migrated()
        let (reader, other, followed) = try await database.withClient { db in
            let reader = try await Fixtures.createUser(db, username: "keep_reader")
            let other = try await Fixtures.createUser(db, username: "keep_other")
            let followed = try await Fixtures.createUser(db, username: "keep_followed")
            for author in [other, followed] {
                for index in 0..<3 {
                    try await Fixtures.createPost(db, author: author, body: "keep \(index)", visibility: index == 0 ? "followers" : "public")
                }
            }
            return (reader, other, followed)
        }
        let app = try await TestApp.make(url: database.url)
        let key = try await app.apiKey(.anon)
        try await app.application.test(.router) { client in
            let rest = RestTestClient(client: client, apiKey: key)
            let asReader = rest.callAs(try await RestTestClient.token(for: reader))
            func profile(_ id: UUID) async throws -> RestTestClient.Reply {
                try await asReader.send(.post, "/rpc/feed_fusion_profile", json: ["p_profile_id": id.uuidString])
            }
            _ = try await profile(other)
            _ = try await profile(followed)
            #expect(try await profile(other)["Cache-Status"]?.contains("hit; ttl") == true)
            #expect(app.dependencies.cachedRPCs.cache.relations.cached(CacheTag.id(reader)) != nil)

            let follow = try await asReader.send(.post, "/rpc/follow_profile", json: ["p_profile_id": followed.uuidString])
            #expect(follow.status == .ok || follow.status == .noContent)
            // Kept, with the follow in them.
            #expect(app.dependencies.cachedRPCs.cache.relations.cached(CacheTag.id(reader))?.followed == [followed])
            let unrelated = try await profile(other)
            #expect(unrelated["Cache-Status"]?.contains("fwd=miss") == false, "\(unrelated["Cache-Status"] ?? "-")")
            let asFollower = try await profile(followed)
            #expect(asFollower.rows.count == 3, "a follower sees the followers-only post: \(asFollower["Cache-Status"] ?? "-")")

            _ = try await asReader.send(.post, "/rpc/unfollow_profile", json: ["p_profile_id": followed.uuidString])
            #expect(app.dependencies.cachedRPCs.cache.relations.cached(CacheTag.id(reader))?.followed == [])
            let again = try await profile(followed)
            #expect(again.rows.count == 2, "\(again["Cache-Status"] ?? "-")")
            #expect(again["Cache-Status"]?.contains("detail=shared") == true)
        }
    }
}
