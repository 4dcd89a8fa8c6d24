import AppConfig
import Database
import FeedCache
import Foundation
import HTTPTypes
import PostgresNIO
import Synchronization
import Testing
import TestSupport

/// The feed cache as clients meet it: one query for a stampede, exact invalidation from every write
/// path, stale answers while the database is away, and the HTTP caching headers.
@Suite("Feed cache over HTTP")
struct FeedCacheHTTPTests {
    func bodies(_ reply: RestTestClient.Reply) -> [String] { reply.column("body") }

    @Test("1,000 concurrent calls of one cold feed make one database query, counted by the database")
    func singleFlight() async throws {
        try await RestWorld.run(configure: { $0.cache.functions.insert("counted_feed") }) { (rest: RestTestClient, _: RestWorld, database: TestDatabase) async throws in
            let ready = try await createAndReload([
                "CREATE TABLE public.feed_calls (n int NOT NULL)",
                "INSERT INTO public.feed_calls VALUES (0)",
                "GRANT SELECT, UPDATE ON public.feed_calls TO anon",
                """
                CREATE FUNCTION public.counted_feed() RETURNS SETOF public.posts LANGUAGE plpgsql AS $$
                BEGIN
                    UPDATE public.feed_calls SET n = n + 1;
                    PERFORM pg_sleep(0.3);
                    RETURN QUERY SELECT * FROM public.posts WHERE visibility = 'public' ORDER BY created_at;
                END $$
                """,
                "GRANT EXECUTE ON FUNCTION public.counted_feed() TO anon",
            ], in: database) {
                // GET of a volatile function is refused (405) once the schema cache knows it; it runs nothing.
                try await rest.get("/rpc/counted_feed").status == .methodNotAllowed
            }
            #expect(ready)
            let statuses = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<1000 {
                    group.addTask {
                        let reply = try await rest.send(.post, "/rpc/counted_feed", json: [:])
                        #expect(reply.status == .ok)
                        #expect(reply.rows.count == 2)
                        return reply["Cache-Status"] ?? "none"
                    }
                }
                return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
            }
            let calls = try await database.withClient { client in
                try await client.query("SELECT n FROM public.feed_calls").collect().first?.decode(Int.self)
            }
            #expect(calls == 1)
            #expect(statuses["FeedFusion; fwd=miss; stored"] == 1)
            #expect(statuses["FeedFusion; fwd=miss; collapsed"] == 999)
        }
    }

    @Test("writes drop exactly the feeds they change, whatever path they take")
    func invalidation() async throws {
        try await RestWorld.run { (rest: RestTestClient, world: RestWorld, database: TestDatabase) async throws in
            let a = rest.callAs(try await RestTestClient.token(for: world.a))
            let b = rest.callAs(try await RestTestClient.token(for: world.b))
            let c = rest.callAs(try await RestTestClient.token(for: world.c))
            func home(_ client: RestTestClient) async throws -> RestTestClient.Reply {
                try await client.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 50])
            }
            #expect(try await home(b)["Cache-Status"]?.hasPrefix("FeedFusion; fwd=miss; stored") == true)
            let hit = try await home(b)
            #expect(hit["Cache-Status"]?.hasPrefix("FeedFusion; hit; ttl=") == true)
            #expect(hit["Age"] != nil)
            _ = try await home(a)

            // A posts through the RPC: A sees it on the very next request, B (a follower) once the NOTIFY is in.
            #expect(try await a.send(.post, "/rpc/create_post", json: ["p_body": "fresh from the RPC"]).status == .ok)
            #expect(bodies(try await home(a)).contains("fresh from the RPC"))
            #expect(try await eventually { bodies(try await home(b)).contains("fresh from the RPC") })

            // A post written straight in SQL (psql, another service) reaches the cache the same way.
            try await database.withClient { client in
                try await client.query("INSERT INTO public.posts (author_id, body) VALUES (\(world.a), 'written in psql')")
            }
            #expect(try await eventually { bodies(try await home(b)).contains("written in psql") })

            // An unrelated author's post leaves B's cached home alone (exact, not a flush).
            _ = try await home(b)
            #expect(try await c.send(.post, "/rpc/create_post", json: ["p_body": "carol talks"]).status == .ok)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await home(b)["Cache-Status"]?.contains("hit") == true)

            // Entity feed: a new target on the place drops it.
            let entity = ["p_entity_id": world.place.uuidString]
            _ = try await rest.send(.post, "/rpc/feed_fusion_entity", json: entity)
            #expect(try await rest.send(.post, "/rpc/feed_fusion_entity", json: entity)["Cache-Status"]?.contains("hit") == true)
            try await database.withClient { client in
                try await client.query("""
                    INSERT INTO public.post_targets (post_id, target_entity_id)
                    SELECT id, \(world.place) FROM public.posts WHERE body = 'written in psql'
                    """)
            }
            #expect(try await eventually {
                bodies(try await rest.send(.post, "/rpc/feed_fusion_entity", json: entity)).contains("written in psql")
            })

            // A like changes like_count in every feed showing the post: here A's profile feed as anon sees it.
            let profile = ["p_profile_id": world.a.uuidString]
            func likes() async throws -> Int? {
                try await rest.send(.post, "/rpc/feed_fusion_profile", json: profile).rows
                    .first { $0["id"] as? String == world.publicPost.uuidString.lowercased() }?["like_count"] as? Int
            }
            #expect(try await likes() == 0)
            #expect(try await b.send(.post, "/rpc/like_post", json: ["p_post_id": world.publicPost.uuidString]).status != .internalServerError)
            #expect(try await eventually { try await likes() == 1 })

            // A block written in SQL: B stops seeing A's posts.
            try await database.withClient { client in
                try await client.query("INSERT INTO public.blocks (blocker_id, blocked_id) VALUES (\(world.a), \(world.b))")
            }
            #expect(try await eventually { !bodies(try await home(b)).contains("a-public") })
        }
    }

    @Test("a new post goes on top of the cached homes it belongs to (fan-out on write), nowhere else, at once")
    func fanOutOnWrite() async throws {
        let token = "metrics-token-0123456789"
        try await RestWorld.run(configure: { $0.observability.metricsToken = token }) { (rest: RestTestClient, world: RestWorld, _: TestDatabase) async throws in
            let a = rest.callAs(try await RestTestClient.token(for: world.a))
            let b = rest.callAs(try await RestTestClient.token(for: world.b))  // follows A
            let c = rest.callAs(try await RestTestClient.token(for: world.c))  // blocked by A
            func home(_ client: RestTestClient, limit: Int = 3) async throws -> RestTestClient.Reply {
                try await client.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": limit])
            }
            for client in [a, b, c] { _ = try await home(client) }
            let before = try await home(b)
            #expect(before["Cache-Status"]?.contains("hit") == true)
            #expect(before.rows.count == 3)
            let cBefore = bodies(try await home(c))

            for (index, visibility) in ["public", "followers", "private"].enumerated() {
                let text = "fanned out \(index)"
                #expect(try await a.send(.post, "/rpc/create_post", json: ["p_body": text, "p_visibility": visibility]).status == .ok)
                // At once (the write waited for its announcement), from the cache, the post on top.
                let after = try await home(b)
                #expect(after["Cache-Status"]?.contains("hit") == true, "\(visibility)")
                let rows = after.rows
                #expect(rows.count == 3, "cut back to the page's limit")
                if visibility == "private" {
                    #expect(!bodies(after).contains(text), "a private post is in no follower's home")
                } else {
                    #expect(rows.first?["body"] as? String == text, "\(visibility)")
                    #expect(rows.first?["reasons"] as? [String] == ["following"])
                    #expect(rows.first?["liked_by_viewer"] as? Bool == false)
                    #expect(after["Content-Range"] == "0-2/*")
                }
                // The author's own home too, whatever the visibility: nothing of theirs was dropped.
                let own = try await home(a)
                #expect(own["Cache-Status"]?.contains("hit") == true, "author, \(visibility)")
                #expect(own.rows.first?["body"] as? String == text)
                #expect(own.rows.first?["reasons"] as? [String] == ["self"])
                // The blocked user's home is neither changed nor dropped.
                let cAfter = try await home(c)
                #expect(cAfter["Cache-Status"]?.contains("hit") == true)
                #expect(bodies(cAfter) == cBefore)
            }
            // What the cache shows is what the database answers.
            let cached = try await home(b).rows.map { $0["id"] as? String }
            // `select` makes the request other than plain: computed, not cut from the cached window.
            let fresh = try await b.send(.post, "/rpc/feed_fusion_home?select=*", json: ["p_limit": 3]).rows.map { $0["id"] as? String }
            #expect(cached == fresh)
            // The lag is on /metrics: three posts fanned out, each within the test's few seconds.
            let metrics = try await rest.client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(token)"]) {
                String(buffer: $0.body)
            }
            #expect(metrics.contains(#"feedfusion_home_fanout_posts_total{cache="memory"} 3"#))
            let p95 = metrics.split(separator: "\n").first { $0.hasPrefix(#"feedfusion_home_fanout_lag_seconds{quantile="0.95"}"#) }
            let seconds = p95.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
            #expect(seconds.map { $0 >= 0 && $0 < 10 } == true, "\(p95 ?? "no lag line")")
        }
    }

    /// Opened by the test: until then the cache's home worker waits before each batch.
    final class Gate: Sendable {
        let opened = Mutex(false)
        func open() { opened.withLock { $0 = true } }
        func pass() async { while !opened.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) } }
    }

    /// The parts of the app a test looks into, taken when it is built.
    final class Parts: Sendable {
        let state = Mutex<(cache: ResponseCache?, fences: WriteFences?)>((nil, nil))
        var cache: ResponseCache { state.withLock { $0.cache! } }
        var fences: WriteFences { state.withLock { $0.fences! } }
    }

    @Test("a post's author is answered before its fan-out; a follower's read waits for it (held home), and past the bound reads the database")
    func authorAnsweredBeforeFanOut() async throws {
        let gate = Gate(), parts = Parts()
        try await RestWorld.run(adjust: { dependencies in
            dependencies.beforeHomeWork = { await gate.pass() }
            parts.state.withLock { $0 = (dependencies.cachedRPCs.cache, dependencies.data.fences) }
        }) { (rest: RestTestClient, world: RestWorld, _: TestDatabase) async throws in
            let a = rest.callAs(try await RestTestClient.token(for: world.a))
            let b = rest.callAs(try await RestTestClient.token(for: world.b))  // follows A
            let c = rest.callAs(try await RestTestClient.token(for: world.c))  // blocked by A
            func home(_ client: RestTestClient) async throws -> RestTestClient.Reply {
                try await client.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 3])
            }
            func profile(_ client: RestTestClient) async throws -> RestTestClient.Reply {
                try await client.send(.post, "/rpc/feed_fusion_profile", json: ["p_profile_id": world.a.uuidString, "p_limit": 3])
            }
            for client in [a, b, c] { _ = try await home(client) }
            #expect(try await home(b)["Cache-Status"]?.contains("hit") == true)
            // A's profile as anon and as its followers see it (shared first pages), and as A sees it.
            for client in [rest, b, a] { _ = try await profile(client) }
            #expect(try await profile(rest)["Cache-Status"]?.contains("hit") == true)
            // The worker is stopped: had the author waited for the push, their fence would time out.
            let text = "before the fan-out"
            let posted = try await a.send(.post, "/rpc/create_post", json: ["p_body": text, "p_visibility": "public"])
            #expect(posted.status == .ok)
            #expect(parts.fences.statistics.timedOut == 0 && parts.fences.statistics.passed >= 1)
            let follower = CacheTag.id(world.b)
            #expect(parts.cache.homeHolds.isHeld(follower), "the follower's home is held until the push")
            #expect(!parts.cache.homeHolds.isHeld(CacheTag.id(world.c)), "a home the post does not reach is not held")
            // The read waits for the worker; it stays stopped past the wait's bound (1 s), so the window
            // from before the post is not used: the database answers, with the post.
            let read = try await home(b)
            #expect(bodies(read).first == text)
            #expect(read["Cache-Status"]?.contains("hit") == false)
            let statistics = parts.cache.homeHolds.statistics
            #expect(statistics.waits == 1 && statistics.timedOut == 1 && statistics.readsPastHold == 1)
            // The blocked user's home is not held; the author's own is (their read waits its bound too).
            #expect(parts.cache.homeHolds.isHeld(follower))
            #expect(try await home(c)["Cache-Status"]?.contains("hit") == true)
            #expect(bodies(try await home(a)).first == text, "the author's own home")
            // The author's profile: their own page went before their answer (no wait); the shared pages
            // are held for the worker, and a read past the bound reads the database, with the post.
            let author = CacheTag.id(world.a)
            #expect(parts.cache.profileHolds.isHeld(author))
            #expect(bodies(try await profile(a)).first == text, "the author's own profile")
            #expect(parts.cache.profileHolds.statistics.waits == 0)
            let anonymous = try await profile(rest)
            #expect(bodies(anonymous).first == text && anonymous["Cache-Status"]?.contains("hit") == false)
            let profileHolds = parts.cache.profileHolds.statistics
            #expect(profileHolds.waits == 1 && profileHolds.timedOut == 1 && profileHolds.readsPastHold == 1)
            // The worker goes on: its push leaves the newer page alone (the post once, on top).
            gate.open()
            #expect(try await eventually { !parts.cache.homeHolds.isHeld(follower) && !parts.cache.profileHolds.isHeld(author) })
            // (The anonymous read past the bound dropped every page of A's profile from before the post:
            // the followers' page is computed anew.)
            let anonymousAfter = try await profile(rest)
            #expect(anonymousAfter["Cache-Status"]?.contains("hit") == true, "\(anonymousAfter["Cache-Status"] ?? "-")")
            for page in [anonymousAfter, try await profile(b)] {
                #expect(bodies(page).filter { $0 == text }.count == 1 && bodies(page).first == text)
            }
            let after = try await home(b)
            #expect(after["Cache-Status"]?.contains("hit") == true)
            #expect(bodies(after).filter { $0 == text }.count == 1 && bodies(after).first == text)
        }
    }

    @Test("a new post's audience among the cached homes is told by the viewers' kept relations, in step with follows; the database is asked only about homes without them")
    func audienceFromRelations() async throws {
        let parts = Parts()
        try await RestWorld.run(adjust: { dependencies in
            parts.state.withLock { $0 = (dependencies.cachedRPCs.cache, dependencies.data.fences) }
        }) { (rest: RestTestClient, world: RestWorld, database: TestDatabase) async throws in
            let d = try await database.withClient { try await Fixtures.createUser($0, username: "dave") }
            let a = rest.callAs(try await RestTestClient.token(for: world.a))
            let b = rest.callAs(try await RestTestClient.token(for: world.b))  // follows A
            let c = rest.callAs(try await RestTestClient.token(for: world.c))  // blocked by A
            let dave = rest.callAs(try await RestTestClient.token(for: d))
            func home(_ client: RestTestClient) async throws -> RestTestClient.Reply {
                try await client.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 5])
            }
            // What the database answers the viewer (`select` makes the request other than plain: computed).
            func truth(_ client: RestTestClient) async throws -> [String] {
                bodies(try await client.send(.post, "/rpc/feed_fusion_home?select=*", json: ["p_limit": 5]))
            }
            let viewers = [world.a, world.b, world.c, d].map(CacheTag.id)
            let clients = [a, b, c, dave]
            for client in clients { _ = try await home(client) }
            // Each viewer's first request read their relations ahead.
            #expect(try await eventually { viewers.allSatisfy { parts.cache.relations.cached($0) != nil } })
            // Dave follows A just before A posts: his kept relations learn it from the announcement.
            #expect(try await dave.send(.post, "/rpc/follow_profile", json: ["p_profile_id": world.a.uuidString]).status.code < 300)
            #expect(parts.cache.relations.cached(CacheTag.id(d))?.followed.contains(world.a) == true)
            // B's relations are gone (as after their TTL): the database is asked about B alone.
            parts.cache.relations.forget(CacheTag.id(world.b))
            let before = parts.cache.listenerWork.snapshot
            #expect(try await a.send(.post, "/rpc/create_post", json: ["p_body": "to the audience", "p_visibility": "followers"]).status == .ok)
            let after = parts.cache.listenerWork.snapshot
            #expect(after.audienceFromRelations - before.audienceFromRelations == 3, "A, C and Dave by their relations")
            #expect(after.audienceAsked - before.audienceAsked == 1, "B by the database")
            for (client, name) in [(a, "A"), (b, "B"), (dave, "Dave")] {
                let read = try await home(client)
                #expect(read["Cache-Status"]?.contains("hit") == true, "\(name)")
                #expect(bodies(read).first == "to the audience", "\(name)")
                #expect(bodies(read) == (try await truth(client)), "\(name)")
            }
            let blocked = try await home(c)
            #expect(blocked["Cache-Status"]?.contains("hit") == true && !bodies(blocked).contains("to the audience"))
            // Dave unfollows: A's next post reaches A and B (whose relations were read again), not Dave.
            #expect(try await dave.send(.post, "/rpc/unfollow_profile", json: ["p_profile_id": world.a.uuidString]).status.code < 300)
            #expect(parts.cache.relations.cached(CacheTag.id(d))?.followed.contains(world.a) == false)
            #expect(try await a.send(.post, "/rpc/create_post", json: ["p_body": "after the unfollow", "p_visibility": "public"]).status == .ok)
            for (client, name) in [(a, "A"), (b, "B"), (dave, "Dave")] {
                let read = try await home(client)
                #expect(read["Cache-Status"]?.contains("hit") == true, "\(name)")
                #expect(bodies(read) == (try await truth(client)), "\(name)")
                #expect(bodies(read).contains("after the unfollow") == (name != "Dave"), "\(name)")
            }
        }
    }

    @Test("home pages are cut from one cached window per viewer: first page and cursor pages, as the database answers them, new posts on top")
    func homeWindow() async throws {
        try await RestWorld.run { (rest: RestTestClient, world: RestWorld, database: TestDatabase) async throws in
            let a = rest.callAs(try await RestTestClient.token(for: world.a))
            let b = rest.callAs(try await RestTestClient.token(for: world.b))  // follows A
            // More posts in B's home than the window holds.
            try await database.withClient { client in
                for index in 0..<70 { _ = try await Fixtures.createPost(client, author: world.a, body: "window \(index)") }
            }
            func page(_ cursor: String?, limit: Int = 20) async throws -> RestTestClient.Reply {
                var arguments: [String: Any] = ["p_limit": limit]
                if let cursor { arguments["p_cursor"] = cursor }
                return try await b.send(.post, "/rpc/feed_fusion_home", json: arguments)
            }
            func truth(_ limit: Int = 100) async throws -> [String] {
                try await b.send(.post, "/rpc/feed_fusion_home?select=*", json: ["p_limit": limit]).column("id")
            }
            func pages() async throws -> (ids: [String], statuses: [String], firstCursor: String?) {
                var ids: [String] = [], statuses: [String] = [], cursor: String? = nil, firstCursor: String? = nil
                for _ in 0..<4 {
                    let reply = try await page(cursor)
                    #expect(reply.status == .ok)
                    ids += reply.column("id")
                    statuses.append(reply["Cache-Status"] ?? "")
                    #expect(reply["Content-Range"] == (reply.rows.isEmpty ? "*/*" : "0-\(reply.rows.count - 1)/*"))
                    cursor = reply.rows.last?["cursor"] as? String
                    if firstCursor == nil { firstCursor = cursor }
                }
                return (ids, statuses, firstCursor)
            }
            let (ids, statuses, firstCursor) = try await pages()
            #expect(ids == (try await truth()).prefix(80).map { $0 }, "four pages of 20, row for row")
            #expect(statuses[0].contains("fwd=miss") && statuses[0].contains("detail=home-window"), "\(statuses[0])")
            #expect(statuses[1].contains("; hit") && statuses[1].contains("detail=home-window"), "\(statuses[1])")
            #expect(statuses[2].contains("; hit") && statuses[2].contains("detail=home-window"), "\(statuses[2])")
            #expect(!statuses[3].contains("home-window"), "rows 61–80 run past the window: computed, \(statuses[3])")
            // A page larger than the window is computed as asked.
            #expect(!((try await page(nil, limit: 80))["Cache-Status"] ?? "").contains("home-window"))

            // A new post goes on top of the window; pages below an old cursor keep their rows.
            let secondBefore = try await page(firstCursor).column("id")
            #expect(try await a.send(.post, "/rpc/create_post", json: ["p_body": "on top of the window"]).status == .ok)
            let first = try await page(nil)
            #expect(first["Cache-Status"]?.contains("; hit") == true)
            #expect(first.rows.first?["body"] as? String == "on top of the window")
            #expect(try await page(firstCursor).column("id") == secondBefore)
            let (after, _, _) = try await pages()
            #expect(after == (try await truth()).prefix(80).map { $0 })

            // A cursor the window does not hold (an old page's, past its end) is computed, right.
            let deep = try await page(nil, limit: 70).rows.last?["cursor"] as? String
            let deepPage = try await page(deep)
            #expect(!(deepPage["Cache-Status"] ?? "").contains("home-window"))
            #expect(deepPage.column("id") == (try await truth()).dropFirst(70).prefix(20).map { $0 })
        }
    }

    @Test("a post whose transaction began before a newer one committed goes below it in the cached window, which stays a hit")
    func outOfOrderCommits() async throws {
        try await RestWorld.run { (rest: RestTestClient, world: RestWorld, database: TestDatabase) async throws in
            let a = rest.callAs(try await RestTestClient.token(for: world.a))
            let b = rest.callAs(try await RestTestClient.token(for: world.b))  // follows A
            func home() async throws -> RestTestClient.Reply { try await b.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 20]) }
            _ = try await home()
            let early = UUID()
            try await database.withClient { client in
                try await client.withConnection { connection in
                    // Stamped now (the transaction's start), committed after a newer post.
                    let logger = database.logger
                    try await connection.query("BEGIN", logger: logger)
                    try await connection.query(
                        "INSERT INTO public.posts (id, author_id, body, visibility) VALUES (\(early), \(world.a), 'begun first', 'public')",
                        logger: logger)
                    #expect(try await a.send(.post, "/rpc/create_post", json: ["p_body": "committed first"]).status == .ok)
                    try await connection.query("COMMIT", logger: logger)
                }
            }
            var reply = try await home()
            let arrived = try await eventually { reply = try await home(); return reply.column("body").contains("begun first") }
            #expect(arrived)
            #expect(reply["Cache-Status"]?.contains("; hit") == true, "\(reply["Cache-Status"] ?? "-")")
            #expect(Array(reply.column("body").prefix(2)) == ["committed first", "begun first"])
            let fresh = try await b.send(.post, "/rpc/feed_fusion_home?select=*", json: ["p_limit": 20])
            #expect(reply.column("id") == fresh.column("id"), "\(fresh.column("body")) \(reply["Cache-Status"] ?? "")")
        }
    }

    @Test("a like changes counters in place: every cached page stays a hit and shows the new count and the liker's heart")
    func likesInPlace() async throws {
        try await RestWorld.run { (rest: RestTestClient, world: RestWorld, _: TestDatabase) async throws in
            let a = rest.callAs(try await RestTestClient.token(for: world.a))
            let b = rest.callAs(try await RestTestClient.token(for: world.b))
            let post = world.publicPost.uuidString.lowercased()
            // The pages that show A's public post: anon's and A's view of A's profile, B's home and B's view of A's profile.
            let pages: [(String, RestTestClient, String, [String: Any])] = [
                ("anon profile", rest, "/rpc/feed_fusion_profile", ["p_profile_id": world.a.uuidString]),
                ("A's profile", a, "/rpc/feed_fusion_profile", ["p_profile_id": world.a.uuidString]),
                ("B's home", b, "/rpc/feed_fusion_home", ["p_limit": 50]),
                ("B's profile of A", b, "/rpc/feed_fusion_profile", ["p_profile_id": world.a.uuidString]),
            ]
            let anonETag = try await rest.get("/rpc/feed_fusion_profile?p_profile_id=\(world.a.uuidString)")["ETag"]
            for (name, client, path, arguments) in pages {
                _ = try await client.send(.post, path, json: arguments)
                let warm = try await client.send(.post, path, json: arguments)
                #expect(warm["Cache-Status"]?.contains("hit") == true, "\(name)")
                let row = warm.rows.first { $0["id"] as? String == post }
                #expect(row?["like_count"] as? Int == 0 && row?["liked_by_viewer"] as? Bool == false, "\(name)")
            }
            for (liked, count) in [(true, 1), (false, 0)] {
                let write = liked ? "/rpc/like_post" : "/rpc/unlike_post"
                #expect(try await b.send(.post, write, json: ["p_post_id": post]).status == .noContent)
                // At once (the write waited for its announcement) and from the cache: nothing was dropped.
                for (name, client, path, arguments) in pages {
                    let reply = try await client.send(.post, path, json: arguments)
                    #expect(reply["Cache-Status"]?.contains("hit") == true, "\(name) after \(write)")
                    let row = reply.rows.first { $0["id"] as? String == post }
                    #expect(row?["like_count"] as? Int == count, "\(name) after \(write)")
                    #expect(row?["liked_by_viewer"] as? Bool == (liked && name.hasPrefix("B")), "\(name) after \(write)")
                }
                // The validator follows the body: a client holding the old page gets the new one, not a 304.
                let etag = try await rest.get("/rpc/feed_fusion_profile?p_profile_id=\(world.a.uuidString)")["ETag"]
                #expect(etag != nil)
                if liked { #expect(etag != anonETag) } else { #expect(etag == anonETag) }
            }
        }
    }

    @Test("read-your-writes: a write through the API is in every cached feed of this instance when it answers")
    func readYourWrites() async throws {
        let token = "metrics-token-0123456789"
        try await RestWorld.run(configure: { $0.observability.metricsToken = token }) { (rest: RestTestClient, world: RestWorld, _: TestDatabase) async throws in
            let a = rest.callAs(try await RestTestClient.token(for: world.a))
            let b = rest.callAs(try await RestTestClient.token(for: world.b))
            let post = world.publicPost.uuidString.lowercased()
            func seen(by client: RestTestClient) async throws -> [String: Any]? {
                let reply = try await client.send(.post, "/rpc/feed_fusion_profile", json: ["p_profile_id": world.a.uuidString])
                #expect(reply.status == .ok)
                return reply.rows.first { $0["id"] as? String == post }
            }
            // Each round caches both views, writes, and reads back at once: no waiting, no retry.
            for round in 1...25 {
                _ = try await seen(by: a)
                _ = try await seen(by: b)
                // A volatile RPC (the like), and a table write (A edits the post).
                let like = round.isMultiple(of: 2) ? "/rpc/unlike_post" : "/rpc/like_post"
                #expect(try await b.send(.post, like, json: ["p_post_id": post]).status == .noContent)
                #expect(try await seen(by: a)?["like_count"] as? Int == (round.isMultiple(of: 2) ? 0 : 1), "round \(round)")
                let body = "edited \(round)"
                #expect(try await a.send(.patch, "/posts?id=eq.\(post)", json: ["body": body]).status == .noContent)
                #expect(try await seen(by: b)?["body"] as? String == body, "round \(round)")
            }
            // Each of the 50 writes waited for its fence, and none waited out the bound.
            let metrics = try await rest.client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(token)"]) {
                String(buffer: $0.body)
            }
            #expect(metrics.contains(#"feedfusion_write_fences_total{outcome="passed"} 50"#))
            #expect(metrics.contains(#"feedfusion_write_fences_total{outcome="timed_out"} 0"#))
        }
    }

    @Test("read-your-writes under a burst: 20 writers at once (their notifications applied in batches) each read their post")
    func readYourWritesConcurrently() async throws {
        try await RestWorld.run { (rest: RestTestClient, world: RestWorld, database: TestDatabase) async throws in
            let writers = try await database.withClient { client in
                var tokens: [(UUID, String)] = []
                for n in 0..<20 {
                    let user = try await Fixtures.createUser(client, username: "writer_\(n)")
                    try await Fixtures.follow(client, follower: user, followed: world.a)
                    tokens.append((user, try await RestTestClient.token(for: user)))
                }
                return tokens
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (n, (user, token)) in writers.enumerated() {
                    group.addTask { () async throws -> Void in
                        let writer = rest.callAs(token)
                        func home() async throws -> [String] {
                            try await writer.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 50]).column("body")
                        }
                        #expect(try await home().contains("a-public"))  // cached now
                        let body = "burst \(n) by \(user)"
                        #expect(try await writer.send(.post, "/rpc/create_post", json: ["p_body": body]).status == .ok)
                        #expect(try await home().contains(body), "writer \(n)")
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test("two server instances: a write through one drops the other's cached feeds")
    func twoInstances() async throws {
        let database = try await TestDatabase.migrated()
        let world = try await database.withClient { try await RestWorld.make($0) }
        let first = try await TestApp.make(url: database.url)
        let second = try await TestApp.make(url: database.url)
        let key = try await first.apiKey(.anon)
        let a = try await RestTestClient.token(for: world.a), b = try await RestTestClient.token(for: world.b)
        try await first.application.test(.router) { one in
            try await second.application.test(.router) { two in
                let writer = RestTestClient(client: one, apiKey: key, bearer: a)
                let reader = RestTestClient(client: two, apiKey: key, bearer: b)
                func home() async throws -> RestTestClient.Reply { try await reader.send(.post, "/rpc/feed_fusion_home", json: [:]) }
                _ = try await home()
                #expect(try await home()["Cache-Status"]?.contains("hit") == true)
                #expect(try await writer.send(.post, "/rpc/create_post", json: ["p_body": "posted on instance one"]).status == .ok)
                #expect(try await eventually { bodies(try await home()).contains("posted on instance one") })
            }
        }
    }

    @Test("the database away: an expired feed is served stale, then fresh again once it is back")
    func staleWhileDatabaseDown() async throws {
        try await RestWorld.run(configure: { $0.cache.ttlSeconds = 1 }) { (rest: RestTestClient, world: RestWorld, database: TestDatabase) async throws in
            let profile = ["p_profile_id": world.a.uuidString]
            let first = try await rest.send(.post, "/rpc/feed_fusion_profile", json: profile)
            #expect(first.status == .ok)
            try await Task.sleep(for: .milliseconds(1200))
            let name = database.url.database
            try await database.maintenance.withClient { client in
                try await client.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \"\(name)\" ALLOW_CONNECTIONS false"))
                // Every connection of the app's pool but the cache listener's (which would drop the cache on reconnect).
                try await client.query("""
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE datname = \(name) AND query NOT ILIKE '%LISTEN%feedfusion_cache%'
                    """)
            }
            let stale = try await rest.send(.post, "/rpc/feed_fusion_profile", json: profile)
            try await database.maintenance.withClient { client in
                try await client.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \"\(name)\" ALLOW_CONNECTIONS true"))
            }
            #expect(stale.status == .ok)
            #expect(stale["Cache-Status"]?.contains("fwd=stale") == true)
            #expect(stale.body == first.body)
            #expect(try await eventually {
                try await rest.send(.post, "/rpc/feed_fusion_profile", json: profile)["Cache-Status"]?.contains("stale") == false
            })
        }
    }

    @Test("ETag and 304, Cache-Control by caller, Vary, gzip over 1 KB")
    func httpCaching() async throws {
        try await RestWorld.run { (rest: RestTestClient, world: RestWorld, database: TestDatabase) async throws in
            let read = try await rest.get("/posts?select=id,body")
            let etag = try #require(read["ETag"])
            #expect(read["Cache-Control"] == "public, max-age=10, s-maxage=60, stale-while-revalidate=30")
            #expect(read["Vary"]?.contains("Authorization") == true)
            #expect(read["Vary"]?.contains("Accept-Encoding") == true)
            let notModified = try await rest.get("/posts?select=id,body", headers: ["If-None-Match": etag])
            #expect(notModified.status == .notModified)
            #expect(notModified.body.isEmpty)
            #expect(notModified["ETag"] == etag)
            #expect(try await rest.get("/posts?select=id,body", headers: ["If-None-Match": "\"other\""]).status == .ok)

            // The cached feed keeps the validator it computed once.
            let profile = "/rpc/feed_fusion_profile?p_profile_id=\(world.a.uuidString)"
            let feed = try await rest.get(profile)
            let feedTag = try #require(feed["ETag"])
            #expect(try await rest.get(profile, headers: ["If-None-Match": feedTag]).status == .notModified)

            // Signed in: private; writes: not stored at all.
            let b = rest.callAs(try await RestTestClient.token(for: world.b))
            #expect(try await b.get("/posts?select=id")["Cache-Control"] == "private, no-cache")
            let write = try await b.send(.post, "/posts", json: ["author_id": world.b.uuidString, "body": "new"])
            #expect(write["Cache-Control"] == "no-store")

            // Big answers are gzipped when asked for, and decompress to the same bytes.
            try await database.withClient { client in
                try await client.query("""
                    INSERT INTO public.posts (author_id, body) SELECT \(world.a), repeat('x', 500) || g FROM generate_series(1, 10) g
                    """)
            }
            let plain = try await rest.get("/posts?select=body")
            let zipped = try await rest.get("/posts?select=body", headers: ["Accept-Encoding": "gzip"])
            #expect(plain["Content-Encoding"] == nil)
            #expect(zipped["Content-Encoding"] == "gzip")
            #expect(zipped.body.count < plain.body.count / 4)
            #expect(zipped["ETag"] != plain["ETag"])
            #expect(try gunzip(zipped.body) == plain.body)
            #expect(try await rest.get("/posts?select=body", headers: ["Accept-Encoding": "gzip;q=0"])["Content-Encoding"] == nil)
            #expect(try await rest.get("/posts?select=body", headers: ["Accept-Encoding": "gzip", "If-None-Match": zipped["ETag"]!]).status
                == .notModified)

            // An oversized body is not made into a cache key; the call is answered as without the cache
            // (here refused: no function takes p_pad).
            let padded = try await rest.send(
                .post, "/rpc/feed_fusion_profile", json: ["p_profile_id": world.a.uuidString, "p_cursor": NSNull(), "p_limit": 20]
                    .merging(["p_pad": String(repeating: "x", count: 5000)]) { a, _ in a })
            #expect(padded.status == .notFound)
            #expect(padded.code == "PGRST202")
        }
    }

    /// Decompresses with the system's gzip, independently of the server's compressor.
    func gunzip(_ data: Data) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-dc"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(data)
        try input.fileHandleForWriting.close()
        let result = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return result
    }
}
