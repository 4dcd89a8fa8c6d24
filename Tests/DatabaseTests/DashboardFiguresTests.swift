import Database
import Foundation
import PostgresNIO
import Testing
import TestSupport

/// The Overview's figures (migration 0032): totals kept by triggers instead of counted, closed days
/// computed once. Held to `count(*)` and to a day's rows after every kind of write that changes them.
@Suite("Dashboard figures")
struct DashboardFiguresTests {
    static func total(_ client: PostgresClient, _ relation: String) async throws -> Int {
        try await client.query("SELECT internal.row_total(\(relation))").decode(Int.self).reduce(into: 0) { $0 = $1 }
    }

    static func counted(_ client: PostgresClient) async throws -> (users: Int, posts: Int) {
        let row = try await client.query("SELECT (SELECT count(*) FROM auth.users)::int, (SELECT count(*) FROM public.posts)::int")
            .decode((Int, Int).self).reduce(into: (0, 0)) { $0 = $1 }
        return (row.0, row.1)
    }

    static func expectExact(_ client: PostgresClient, _ what: String) async throws {
        let counted = try await counted(client)
        #expect(try await total(client, "users") == counted.users, "\(what): users")
        #expect(try await total(client, "posts") == counted.posts, "\(what): posts")
    }

    @Test("totals follow inserts, multi-row and concurrent writes, deletes, a user's cascade and TRUNCATE")
    func totals() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            try await Self.expectExact(client, "empty")
            let author = try await Fixtures.createUser(client, username: "author")
            let other = try await Fixtures.createUser(client, username: "other")
            for index in 0..<3 { try await Fixtures.createPost(client, author: author, body: "post \(index)") }
            try await Self.expectExact(client, "three posts")
            #expect(try await Self.total(client, "posts") == 3)

            // One statement writing many rows, and 20 writers at once: none lost, none twice.
            try await client.query("""
                INSERT INTO public.posts (author_id, body, visibility)
                SELECT \(other), 'bulk ' || n, 'public' FROM generate_series(1, 50) n
                """)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<20 {
                    group.addTask { try await Fixtures.createPost(client, author: other, body: "concurrent \(index)") }
                }
                try await group.waitForAll()
            }
            try await Self.expectExact(client, "bulk and concurrent")
            #expect(try await Self.total(client, "posts") == 73)

            // A transaction that inserted a post and stays open holds up no other writer's count.
            try await client.withConnection { held in
                try await held.query("BEGIN", logger: testLogger)
                try await held.query("INSERT INTO public.posts (author_id, body, visibility) VALUES (\(author), 'held open', 'public')", logger: testLogger)
                try await client.withConnection { other in
                    try await other.query("SET lock_timeout = '2s'", logger: testLogger)
                    for index in 0..<40 {
                        let body = "meanwhile \(index)"
                        try await other.query(
                            "INSERT INTO public.posts (author_id, body, visibility) VALUES (\(author), \(body), 'public')", logger: testLogger)
                    }
                    try await other.query("RESET lock_timeout", logger: testLogger)
                    let seen = try await other.query("SELECT count(*)::int FROM public.posts WHERE body LIKE 'meanwhile%'", logger: testLogger).decode(Int.self).first { _ in true }
                    #expect(seen == 40, "seen \(String(describing: seen))")
                }
                try await held.query("COMMIT", logger: testLogger)
            }
            try await Self.expectExact(client, "while one was held open")
            let afterHeld = try await Self.total(client, "posts")
            #expect(afterHeld == 114, "\(afterHeld)")

            try await client.query("DELETE FROM public.posts WHERE body LIKE 'bulk 1%'")
            try await Self.expectExact(client, "deleted some")
            // Deleting a user deletes their profile and posts by cascade.
            try await client.query("DELETE FROM auth.users WHERE id = \(other)")
            try await Self.expectExact(client, "user deleted")
            #expect(try await Self.total(client, "posts") == 44)
            #expect(try await Self.total(client, "users") == 1)

            try await client.query("TRUNCATE auth.users CASCADE")
            try await Self.expectExact(client, "truncated")
            #expect(try await Self.total(client, "posts") == 0)

            // After a load that skipped the triggers, the recount restores them.
            try await client.withConnection { connection in
                try await connection.query("SET session_replication_role = replica")
                try await connection.query("""
                    INSERT INTO auth.users (id, email) SELECT gen_random_uuid(), 'bulk' || n || '@example.com' FROM generate_series(1, 5) n
                    """)
                try await connection.query("SET session_replication_role = origin")
            }
            #expect(try await Self.total(client, "users") == 0)
            try await client.query("SELECT internal.recount_dashboard_figures()")
            try await Self.expectExact(client, "recounted")
            #expect(try await Self.total(client, "users") == 5)
        }
    }

    @Test("a closed day is computed once and kept; today is live; active means signed in, posted or liked")
    func days() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            let poster = try await Fixtures.createUser(client, username: "poster")
            let liker = try await Fixtures.createUser(client, username: "liker")
            let signedIn = try await Fixtures.createUser(client, username: "signed_in")
            _ = try await Fixtures.createUser(client, username: "idle")
            // Yesterday (UTC): poster posted twice, liker liked; signed_in only signed in.
            let post = try await Fixtures.createPost(client, author: poster, body: "yesterday")
            try await Fixtures.createPost(client, author: poster, body: "yesterday too")
            try await client.query("UPDATE public.posts SET created_at = now() - interval '1 day' WHERE author_id = \(poster)")
            try await client.query("INSERT INTO public.post_likes (post_id, profile_id) VALUES (\(post), \(liker))")
            try await client.query("UPDATE public.post_likes SET created_at = now() - interval '1 day'")
            try await client.query("UPDATE auth.users SET created_at = now() - interval '1 day'")
            try await client.query("UPDATE auth.users SET last_sign_in_at = now() - interval '1 day' WHERE id = \(signedIn)")
            // Today: one new post by the liker.
            try await Fixtures.createPost(client, author: liker, body: "today")

            func days() async throws -> [[String: Any]] {
                let text = try await client.query("SELECT internal.activity_days_upto_today(2)::text").decode(String.self)
                    .reduce(into: "") { $0 = $1 }
                return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] ?? []
            }
            var figures = try await days()
            #expect(figures.count == 2)
            #expect(figures.first?["posts"] as? Int == 2)
            #expect(figures.first?["signups"] as? Int == 4)
            #expect(figures.first?["active_users"] as? Int == 3)  // poster, liker, signed_in; not idle
            #expect(figures.last?["posts"] as? Int == 1)
            #expect(figures.last?["active_users"] as? Int == 1)

            // Yesterday is kept as it closed: deleting its posts leaves it; today follows at once.
            try await client.query("DELETE FROM public.posts WHERE author_id = \(poster)")
            try await Fixtures.createPost(client, author: poster, body: "today too")
            figures = try await days()
            #expect(figures.first?["posts"] as? Int == 2)
            #expect(figures.last?["posts"] as? Int == 2)
            #expect(figures.last?["active_users"] as? Int == 2)
            let stored = try await client.query("SELECT count(*)::int FROM internal.activity_days").decode(Int.self)
                .reduce(into: 0) { $0 = $1 }
            #expect(stored == 1)
        }
    }
}
