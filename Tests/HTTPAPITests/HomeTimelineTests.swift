import Database
import FeedCache
import Foundation
import HTTPTypes
import PostgresNIO
import Testing
import TestSupport

/// The home read path as clients use it — windows cut into pages, posts pushed onto them by
/// fan-out on write, counters patched in — against what the feed answers each viewer under their
/// own role and RLS, on random worlds, page by page, after every kind of write that changes a
/// home: posts of each visibility, follows, unfollows, blocks, unblocks, likes, a profile turned
/// private, a post's visibility changed, a post deleted. Every write goes through the API and
/// waits for its announcement (read-your-writes), so the next read must already agree.
@Suite("Cached home feeds agree with the database after every write")
struct HomeTimelineTests {
    /// Each viewer's whole home, walked with plain requests (limit 3, so the cursor is used), each
    /// page twice (computed or cut from the window, then from the cache), equal to the feed under
    /// the viewer's role, field for field.
    static func expectAgreement(
        _ rest: RestTestClient, _ users: [UUID], _ database: TestDatabase, _ what: String
    ) async throws {
        for viewer in users {
            let client = rest.callAs(try await RestTestClient.token(for: viewer))
            var cursor: String?
            for page in 1...30 {
                let below = cursor
                let expected = try await database.withClient { db in
                    try await db.withCaller(Fixtures.caller(viewer), readOnly: true, logger: database.logger) { connection in
                        var json = "[]"
                        let query: PostgresQuery =
                            "SELECT coalesce(json_agg(to_json(f)), '[]')::text FROM public.feed_fusion_home(3, \(below)) f"
                        for try await row in try await connection.query(query, logger: database.logger).decode(String.self) { json = row }
                        return json
                    }
                }
                let wanted = SharedPagesTests.canonical(try JSONSerialization.jsonObject(with: Data(expected.utf8)))
                var arguments: [String: Any] = ["p_limit": 3]
                if let cursor { arguments["p_cursor"] = cursor }
                var last: RestTestClient.Reply?
                for round in 1...2 {
                    let reply = try await client.send(.post, "/rpc/feed_fusion_home", json: arguments)
                    #expect(reply.status == .ok)
                    let got = SharedPagesTests.canonical(reply.json)
                    if got != wanted {
                        Issue.record(
                            "\(what): home page \(page) of \(viewer), round \(round), \(reply["Cache-Status"] ?? "-"): \(Self.difference(got, wanted))")
                    }
                    last = reply
                }
                guard let next = last?.rows.last?["cursor"] as? String, last?.rows.count == 3 else { break }
                cursor = next
            }
        }
    }

    /// What differs between two pages of canonical rows, briefly: row counts, then each row's ids
    /// and the fields that differ.
    static func difference(_ got: [String], _ wanted: [String]) -> String {
        func object(_ row: String) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(row.utf8))) as? [String: Any] ?? [:]
        }
        var lines = ["rows \(got.count), wanted \(wanted.count)"]
        for index in 0..<max(got.count, wanted.count) {
            let a = index < got.count ? object(got[index]) : [:], b = index < wanted.count ? object(wanted[index]) : [:]
            func text(_ value: Any?) -> String {
                guard let value, JSONSerialization.isValidJSONObject([value]),
                    let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys])
                else { return "-" }
                return String(decoding: data, as: UTF8.self)
            }
            let keys = Set(a.keys).union(b.keys).filter { text(a[$0]) != text(b[$0]) }.sorted()
            guard !keys.isEmpty else { continue }
            lines.append("#\(index): " + keys.map { "\($0) \(text(a[$0])) ≠ \(text(b[$0]))" }.joined(separator: "; "))
        }
        return lines.joined(separator: " | ")
    }

    @Test("every viewer's home, page by page, after each write", arguments: [1, 2] as [UInt64])
    func agreement(seed: UInt64) async throws {
        let database = try await TestDatabase.migrated()
        let world = try await database.withClient { try await SharedPagesTests.build(seed: seed, on: $0) }
        // The home worker (pushes, follow merges) runs after the writers' answers: slowed down here,
        // every read below races it, and must wait for the homes it holds.
        let app = try await TestApp.make(url: database.url, adjust: { $0.beforeHomeWork = { try? await Task.sleep(for: .milliseconds(40)) } })
        let key = try await app.apiKey(.anon)
        try await app.application.test(.router) { client in
            let rest = RestTestClient(client: client, apiKey: key)
            let users = world.users
            try await Self.expectAgreement(rest, users, database, "seed \(seed)")
            var random = SeededGenerator(seed: seed &+ 11)
            func someone() -> UUID { users[random.below(users.count)] }
            func other(than user: UUID) -> UUID {
                var pick = someone()
                while pick == user { pick = someone() }
                return pick
            }
            func posts(of author: UUID? = nil) async throws -> [UUID] {
                try await database.withClient { db in
                    let query: PostgresQuery = author.map { "SELECT id FROM public.posts WHERE author_id = \($0) ORDER BY id" }
                        ?? "SELECT id FROM public.posts ORDER BY id"
                    return try await db.query(query).decode(UUID.self).reduce(into: [UUID]()) { $0.append($1) }
                }
            }
            // Posts of each visibility, one mentioning someone.
            for visibility in ["public", "followers", "private", "public"] {
                let author = someone()
                let writer = rest.callAs(try await RestTestClient.token(for: author))
                var arguments: [String: Any] = ["p_body": "new \(visibility)", "p_visibility": visibility]
                if visibility == "public" { arguments["p_target_profile_ids"] = [other(than: author).uuidString] }
                let reply = try await writer.send(.post, "/rpc/create_post", json: arguments)
                #expect(reply.status == .ok, "create_post: \(String(decoding: reply.body, as: UTF8.self))")
                try await Self.expectAgreement(rest, users, database, "seed \(seed), after a \(visibility) post by \(author)")
            }
            // Relations.
            let steps: [(String, String)] = [
                ("follow_profile", "p_profile_id"), ("unfollow_profile", "p_profile_id"), ("block_profile", "p_profile_id"),
                ("unblock_profile", "p_profile_id"), ("follow_entity", "p_entity_id"),
            ]
            for (function, argument) in steps {
                let actor = someone()
                let subject = argument == "p_entity_id" ? world.entities[random.below(world.entities.count)] : other(than: actor)
                let reply = try await rest.callAs(try await RestTestClient.token(for: actor))
                    .send(.post, "/rpc/\(function)", json: [argument: subject.uuidString])
                #expect(reply.status.code < 300, "\(function): \(String(decoding: reply.body, as: UTF8.self))")
                try await Self.expectAgreement(rest, users, database, "seed \(seed), after \(function) by \(actor)")
            }
            // A like (counters and hearts in place).
            let liker = someone()
            if let post = try await posts().first {
                _ = try await rest.callAs(try await RestTestClient.token(for: liker)).send(.post, "/rpc/like_post", json: ["p_post_id": post.uuidString])
                try await Self.expectAgreement(rest, users, database, "seed \(seed), after a like")
            }
            // A profile turned private, a post's visibility changed, a post deleted: table writes.
            let owner = someone()
            let ownerClient = rest.callAs(try await RestTestClient.token(for: owner))
            let privacy = try await ownerClient.send(.patch, "/profiles?id=eq.\(owner.uuidString)", json: ["is_private": true])
            #expect(privacy.status.code < 300)
            try await Self.expectAgreement(rest, users, database, "seed \(seed), after \(owner) turned private")
            let author = users.first { _ in true }!
            let authorClient = rest.callAs(try await RestTestClient.token(for: author))
            let own = try await posts(of: author)
            if let first = own.first {
                let changed = try await authorClient.send(.patch, "/posts?id=eq.\(first.uuidString)", json: ["visibility": "private"])
                #expect(changed.status.code < 300)
                try await Self.expectAgreement(rest, users, database, "seed \(seed), after a post turned private")
            }
            if let last = own.last {
                let deleted = try await authorClient.send(.delete, "/posts?id=eq.\(last.uuidString)")
                #expect(deleted.status.code < 300)
                try await Self.expectAgreement(rest, users, database, "seed \(seed), after a post was deleted")
            }
        }
    }
    /// A follow or unfollow corrects the follower's cached home window in place (migration 0035)
    /// instead of dropping it. The window holds 60 rows; here the viewer's home runs to more than a
    /// hundred, so an unfollow leaves a window that no longer reaches as far down as it did, and the
    /// pages past its rows must come from the database. Each answer is compared, page by page, with
    /// the feed run under the viewer's role; the first page after each change must be served from
    /// the window (merged, not recomputed).
    @Test("a follow and an unfollow merge into the cached home window, rows in and out, page by page")
    func followMerge() async throws {
        let database = try await TestDatabase.migrated()
        let (viewer, prolific, quiet, place) = try await database.withClient { db in
            let viewer = try await Fixtures.createUser(db, username: "merge_viewer")
            let prolific = try await Fixtures.createUser(db, username: "merge_prolific")
            let quiet = try await Fixtures.createUser(db, username: "merge_quiet")
            let other = try await Fixtures.createUser(db, username: "merge_other")
            let place = UUID()
            try await db.query("INSERT INTO public.entities (id, kind, name) VALUES (\(place), 'place', 'merge place')")
            try await Fixtures.follow(db, follower: viewer, followed: quiet)
            for index in 0..<80 {
                let post = try await Fixtures.createPost(
                    db, author: prolific, body: "prolific \(index)", visibility: index % 5 == 4 ? "followers" : "public")
                // Some of the prolific author's posts are at the place too: following both, one row, two reasons.
                if index % 7 == 0 { try await db.query("INSERT INTO public.post_targets (post_id, target_entity_id) VALUES (\(post), \(place))") }
                if index % 2 == 0 { try await Fixtures.createPost(db, author: quiet, body: "quiet \(index)") }
                if index % 3 == 0 {
                    let there = try await Fixtures.createPost(db, author: other, body: "other \(index)")
                    try await db.query("INSERT INTO public.post_targets (post_id, target_entity_id) VALUES (\(there), \(place))")
                }
            }
            return (viewer, prolific, quiet, place)
        }
        let app = try await TestApp.make(url: database.url)
        let key = try await app.apiKey(.anon)
        try await app.application.test(.router) { client in
            let rest = RestTestClient(client: client, apiKey: key)
            let reader = rest.callAs(try await RestTestClient.token(for: viewer))
            try await Self.expectAgreement(rest, [viewer], database, "before")
            let steps: [(String, String, UUID)] = [
                ("follow_profile", "p_profile_id", prolific), ("follow_entity", "p_entity_id", place),
                ("unfollow_profile", "p_profile_id", prolific), ("follow_profile", "p_profile_id", prolific),
                ("unfollow_entity", "p_entity_id", place), ("unfollow_profile", "p_profile_id", quiet),
            ]
            for (function, argument, subject) in steps {
                let reply = try await reader.send(.post, "/rpc/\(function)", json: [argument: subject.uuidString])
                #expect(reply.status.code < 300, "\(function): \(String(decoding: reply.body, as: UTF8.self))")
                let first = try await reader.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 20])
                let status = first["Cache-Status"] ?? "-"
                #expect(status.contains("hit") && status.contains("home-window"), "after \(function): \(status)")
                try await Self.expectAgreement(rest, [viewer], database, "after \(function)")
            }
            // Several follows of one viewer announced together (one transaction: one batch of the
            // listener, merged in one query): a profile and a place followed, a profile unfollowed.
            try await database.withClient { db in
                try await db.query("""
                    WITH a AS (INSERT INTO public.follows (follower_id, followed_profile_id) VALUES (\(viewer), \(quiet)) RETURNING 1),
                         b AS (INSERT INTO public.follows (follower_id, followed_entity_id) VALUES (\(viewer), \(place)) RETURNING 1),
                         c AS (DELETE FROM public.follows WHERE follower_id = \(viewer) AND followed_profile_id = \(prolific) RETURNING 1)
                    SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b) + (SELECT count(*) FROM c)
                    """)
            }
            // A write through the API waits for its fence, which passes after the batch before it (and
            // its own merge goes onto the window the batch merged into).
            let refollowed = try await reader.send(.post, "/rpc/follow_profile", json: ["p_profile_id": prolific.uuidString])
            #expect(refollowed.status.code < 300)
            let first = try await reader.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 20])
            let status = first["Cache-Status"] ?? "-"
            #expect(status.contains("hit") && status.contains("home-window"), "after follows in one batch: \(status)")
            try await Self.expectAgreement(rest, [viewer], database, "after follows in one batch")
        }
    }

    /// A session's start (sign-up, sign-in, refresh) builds its user's home window off the request
    /// path (`HomeWindowPreparer`), under the user's own role: the first home read after signing in
    /// is cut from a window already built, and agrees with the feed under the viewer's role page by
    /// page. A window that is cached and fresh is not built again.
    @Test("a session's start builds the user's home window before their first read")
    func windowAtSessionStart() async throws {
        let database = try await TestDatabase.migrated()
        let app = try await TestApp.make(url: database.url)
        let preparer = try #require(app.dependencies.homeWindows)
        let key = try await app.apiKey(.anon)
        try await app.application.test(.router) { client in
            let auth = AuthTestClient(client: client, apiKey: key)
            let signedUp = try await auth.signUp("arrival@example.com", "arrival-password-1")
            #expect(signedUp.status == .ok)
            let userID = (signedUp["user"] as? [String: Any])?["id"] as? String
            let viewer = try #require(userID.flatMap { UUID(uuidString: $0) })
            try await database.withClient { db in
                let author = try await Fixtures.createUser(db, username: "arrival_author")
                let stranger = try await Fixtures.createUser(db, username: "arrival_stranger")
                try await Fixtures.follow(db, follower: viewer, followed: author)
                for index in 0..<25 {
                    try await Fixtures.createPost(db, author: author, body: "arrival \(index)", visibility: index % 4 == 3 ? "followers" : "public")
                    // Not the viewer's to see at home (not followed), nor at all (private).
                    try await Fixtures.createPost(db, author: stranger, body: "stranger \(index)", visibility: index % 2 == 0 ? "private" : "public")
                }
            }
            // The sign-up's window was built for an empty home; the viewer then goes idle long enough for it to go.
            try await Self.waitUntil { preparer.outcomes.built >= 1 }
            app.dependencies.cachedRPCs.cache.invalidate([.viewer(CacheTag.id(viewer))])
            let before = preparer.outcomes
            let signedIn = try await auth.signIn("arrival@example.com", "arrival-password-1")
            #expect(signedIn.status == .ok)
            // The window, and the relations the shared pages need, before any request of the viewer's.
            #expect(app.dependencies.cachedRPCs.cache.relations.cached(CacheTag.id(viewer)) == nil)
            try await Self.waitUntil {
                preparer.outcomes.built > before.built && app.dependencies.cachedRPCs.cache.relations.cached(CacheTag.id(viewer)) != nil
            }
            let session = try #require(signedIn["access_token"] as? String)
            let first = try await RestTestClient(client: client, apiKey: key, bearer: session)
                .send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 20])
            let status = first["Cache-Status"] ?? "-"
            #expect(first.status == .ok)
            #expect(status.contains("hit") && status.contains("home-window"), "first read after sign-in: \(status)")
            #expect(first.rows.count == 20)
            try await Self.expectAgreement(RestTestClient(client: client, apiKey: key), [viewer], database, "window built at sign-in")
            // A refresh while the window is cached and fresh builds nothing.
            let built = preparer.outcomes.built
            let refreshed = try await auth.refresh(try #require(signedIn["refresh_token"] as? String))
            #expect(refreshed.status == .ok)
            try await Self.waitUntil { preparer.outcomes.cached > before.cached }
            #expect(preparer.outcomes.built == built)
            #expect(preparer.outcomes.failed == 0)
        }
    }

    /// Polls `condition` for up to ten seconds (the preparer works off the request path).
    static func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<200 where !condition() { try await Task.sleep(for: .milliseconds(50)) }
        #expect(condition(), "not reached within ten seconds")
    }
}

