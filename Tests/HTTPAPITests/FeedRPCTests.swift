import Foundation
import PostgresNIO
import Testing
import TestSupport

/// The feed and social-action RPCs as a client calls them: shapes, status codes, limits.
@Suite("Feed and social-action RPCs over HTTP")
struct FeedRPCTests {
    @Test("home feed rows have the documented shape; the cursor pages; anon gets 401; bad input 400")
    func homeFeed() async throws {
        try await RestWorld.run { (rest: RestTestClient, world: RestWorld, _: TestDatabase) in
            let b = rest.callAs(try await RestTestClient.token(for: world.b))
            let page = try await b.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 2])
            #expect(page.status == .ok)
            #expect(page.rows.count == 2)
            let first = try #require(page.rows.first)
            #expect(Set(first.keys) == [
                "id", "author", "body", "visibility", "created_at", "location", "targets", "reasons", "like_count", "cursor",
                "liked_by_viewer",
            ])
            // B follows A and is mentioned in A's public post, which also targets the place.
            let everything = try await b.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 10]).rows
            let publicRow = try #require(everything.first { $0["id"] as? String == world.publicPost.uuidString.lowercased() })
            #expect(publicRow["reasons"] as? [String] == ["following", "mention"])
            let author = try #require(publicRow["author"] as? [String: Any])
            #expect(author["username"] as? String == "alice")
            let targets = try #require(publicRow["targets"] as? [[String: Any]])
            #expect(Set(targets.compactMap { $0["kind"] as? String }) == ["entity", "profile"])
            #expect(targets.contains { $0["name"] as? String == "Central Park" })

            // Everything B may see in the home feed, walked by cursor, equals one big page.
            let all = try await b.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 100]).column("id")
            var walked: [String] = []
            var cursor: String?
            repeat {
                var arguments: [String: Any] = ["p_limit": 1]
                if let cursor { arguments["p_cursor"] = cursor }
                let rows = try await b.send(.post, "/rpc/feed_fusion_home", json: arguments).rows
                walked += rows.compactMap { $0["id"] as? String }
                cursor = rows.count == 1 ? rows[0]["cursor"] as? String : nil
            } while cursor != nil
            #expect(walked == all)
            #expect(!all.contains(world.privatePost.uuidString.lowercased()))

            let anon = try await rest.send(.post, "/rpc/feed_fusion_home", json: [:])
            #expect(anon.status == .unauthorized)
            #expect(anon.code == "42501")
            for arguments in [["p_limit": 0], ["p_limit": 500], ["p_cursor": "garbage!"]] as [[String: Any]] {
                let reply = try await b.send(.post, "/rpc/feed_fusion_home", json: arguments)
                #expect(reply.status == .badRequest, "\(arguments)")
                #expect(reply.code == "22023")
            }
            let farAway = try await rest.get("/rpc/feed_fusion_nearby?p_lat=95&p_lng=0")
            #expect(farAway.status == .badRequest)
            let profile = try await rest.get("/rpc/feed_fusion_profile?p_profile_id=\(world.a.uuidString.lowercased())")
            #expect(profile.status == .ok)
            #expect(profile.column("id") == [world.publicPost.uuidString.lowercased()])
        }
    }

    @Test("create_post answers the feed row, validates its input, and is rate limited with 429")
    func createPost() async throws {
        try await RestWorld.run { (rest: RestTestClient, world: RestWorld, database: TestDatabase) in
            try await database.withClient { try await $0.query("UPDATE internal.settings SET value = '3' WHERE name = 'posts_per_hour'") }
            let b = rest.callAs(try await RestTestClient.token(for: world.b))
            let created = try await b.send(.post, "/rpc/create_post", json: [
                "p_body": "hello park", "p_target_entity_ids": [world.place.uuidString], "p_target_profile_ids": [world.a.uuidString],
                "p_lat": 40.78, "p_lng": -73.96,
            ])
            #expect(created.status == .ok)
            #expect(created.object["body"] as? String == "hello park")
            #expect(created.object["reasons"] as? [String] == ["self"])
            let location = try #require(created.object["location"] as? [String: Double])
            #expect(abs((location["lat"] ?? 0) - 40.78) < 1e-9 && abs((location["lng"] ?? 0) + 73.96) < 1e-9)
            #expect((created.object["targets"] as? [Any])?.count == 2)
            // B sees it at the top of their home feed at once.
            let home = try await b.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 1])
            #expect(home.column("id") == ["\(created.object["id"] ?? "")"])

            let bad: [[String: Any]] = [
                ["p_body": ""], ["p_body": String(repeating: "x", count: 2001)], ["p_body": "x", "p_visibility": "friends"],
                ["p_body": "x", "p_target_entity_ids": (0..<11).map { _ in UUID().uuidString }],
                ["p_body": "x", "p_target_entity_ids": [UUID().uuidString]], ["p_body": "x", "p_lat": 10],
                ["p_body": "x", "p_target_profile_ids": [world.c.uuidString]],  // C is blocked by A, not by B: visible
            ]
            for (index, arguments) in bad.enumerated() {
                let reply = try await b.send(.post, "/rpc/create_post", json: arguments)
                if index == bad.count - 1 {
                    #expect(reply.status == .ok, "a visible profile is a valid target")
                } else {
                    #expect(reply.status == .badRequest, "\(arguments)")
                    #expect(reply.code == "22023", "\(arguments)")
                }
            }
            // Two posts so far this hour; the limit is 3.
            #expect(try await b.send(.post, "/rpc/create_post", json: ["p_body": "third"]).status == .ok)
            let limited = try await b.send(.post, "/rpc/create_post", json: ["p_body": "fourth"])
            #expect(limited.status == .tooManyRequests)
            #expect(limited.code == "PT429")
            // A has their own budget.
            let a = rest.callAs(try await RestTestClient.token(for: world.a))
            #expect(try await a.send(.post, "/rpc/create_post", json: ["p_body": "mine"]).status == .ok)
            #expect(try await rest.send(.post, "/rpc/create_post", json: ["p_body": "anon"]).status == .unauthorized)
        }
    }

    @Test("likes count, follows of entities feed the home feed, blocks hide both ways; admin functions refuse non-admins")
    func socialActions() async throws {
        try await RestWorld.run { (rest: RestTestClient, world: RestWorld, database: TestDatabase) in
            let a = rest.callAs(try await RestTestClient.token(for: world.a))
            let b = rest.callAs(try await RestTestClient.token(for: world.b))
            let c = rest.callAs(try await RestTestClient.token(for: world.c))
            let post = world.publicPost.uuidString.lowercased()
            #expect(try await b.send(.post, "/rpc/like_post", json: ["p_post_id": post]).status == .noContent)
            #expect(try await b.send(.post, "/rpc/like_post", json: ["p_post_id": post]).status == .noContent)
            // C is blocked by A: cannot see, so cannot like, A's post.
            #expect(try await c.send(.post, "/rpc/like_post", json: ["p_post_id": post]).status == .forbidden)
            var row = try await b.send(.post, "/rpc/feed_fusion_profile", json: ["p_profile_id": world.a.uuidString]).rows
                .first { $0["id"] as? String == post }
            #expect(row?["like_count"] as? Int == 1)
            #expect(try await b.send(.post, "/rpc/unlike_post", json: ["p_post_id": post]).status == .noContent)
            row = try await b.send(.post, "/rpc/feed_fusion_profile", json: ["p_profile_id": world.a.uuidString]).rows
                .first { $0["id"] as? String == post }
            #expect(row?["like_count"] as? Int == 0)

            // C follows the place and so sees posts about it — except A's, across the block.
            #expect(try await c.send(.post, "/rpc/follow_entity", json: ["p_entity_id": world.place.uuidString]).status == .noContent)
            let bAboutPlace = try await b.send(.post, "/rpc/create_post", json: [
                "p_body": "b at the park", "p_target_entity_ids": [world.place.uuidString],
            ]).object["id"] as? String
            let cHome = try await c.send(.post, "/rpc/feed_fusion_home", json: [:])
            #expect(cHome.column("id") == [bAboutPlace ?? "?"])
            #expect(cHome.rows.first?["reasons"] as? [String] == ["entity"])
            #expect(try await c.send(.post, "/rpc/unfollow_entity", json: ["p_entity_id": world.place.uuidString]).status == .noContent)
            #expect(try await c.send(.post, "/rpc/feed_fusion_home", json: [:]).rows.isEmpty)

            // B blocks A: A's posts leave B's home feed, and B's leave A's view.
            #expect(try await b.send(.post, "/rpc/block_profile", json: ["p_profile_id": world.a.uuidString]).status == .noContent)
            let bHome = try await b.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 50]).rows
            #expect(!bHome.contains { ($0["author"] as? [String: Any])?["id"] as? String == world.a.uuidString.lowercased() })
            #expect(try await a.send(.post, "/rpc/feed_fusion_profile", json: ["p_profile_id": world.b.uuidString]).rows.isEmpty)
            #expect(try await b.send(.post, "/rpc/unblock_profile", json: ["p_profile_id": world.a.uuidString]).status == .noContent)
            #expect(try await a.send(.post, "/rpc/feed_fusion_profile", json: ["p_profile_id": world.b.uuidString]).rows.count == 2)
            #expect(try await b.send(.post, "/rpc/block_profile", json: ["p_profile_id": world.b.uuidString]).status == .badRequest)

            for (path, arguments) in [
                ("/rpc/admin_stats", [:]), ("/rpc/admin_ban_user", ["p_user_id": world.c.uuidString, "p_until": "2100-01-01T00:00:00Z"]),
            ] as [(String, [String: Any])] {
                let reply = try await b.send(.post, path, json: arguments)
                #expect(reply.status == .forbidden, "\(path)")
                #expect(reply.code == "42501")
            }
            let admin = try await database.withClient { try await Fixtures.createUser($0, username: "the_admin", admin: true) }
            let adminClient = rest.callAs(try await RestTestClient.token(for: admin))
            let stats = try await adminClient.send(.post, "/rpc/admin_stats", json: [:])
            #expect(stats.status == .ok)
            #expect(stats.object["users"] as? Int == 4)
            #expect(stats.object["posts"] as? Int == 5)
            #expect(stats.object["posts_today"] as? Int == 5)
            #expect(stats.object["active_users_today"] as? Int == 2)
            let ban = try await adminClient.send(.post, "/rpc/admin_ban_user", json: ["p_user_id": world.c.uuidString, "p_until": "2100-01-01T00:00:00Z"])
            #expect(ban.status == .ok)
            #expect(ban.json as? Bool == true)
        }
    }
}
