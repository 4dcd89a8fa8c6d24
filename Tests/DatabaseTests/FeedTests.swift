import Database
import Foundation
import Logging
import PostgresNIO
import Testing
import TestSupport

/// The feed RPCs against an independent reference: random small worlds (several seeds), every
/// viewer (author, followers, strangers, blocked and blocking users, private profiles, an admin,
/// anon), every feed, walked page by page through the cursor and compared row by row.
@Suite("Feeds: visibility matrix, pagination, nearby")
struct FeedTests {
    typealias Row = (id: UUID, reasons: [String])

    /// Walks a feed to its end, `pageSize` rows at a time; `call` is the SQL of one page given
    /// the limit and cursor binds.
    static func walk(
        _ client: PostgresClient, as caller: Caller, pageSize: Int, logger: Logger,
        between: (() async throws -> Void)? = nil,
        _ call: @escaping @Sendable (Int, String?) -> PostgresQuery
    ) async throws -> [Row] {
        var rows: [Row] = []
        var cursor: String?
        for _ in 0..<1000 {
            let page = try await client.withCaller(caller, readOnly: true, logger: logger) { [cursor] connection in
                var page: [(UUID, [String], String)] = []
                for try await row in try await connection.query(call(pageSize, cursor), logger: logger).decode((UUID, [String], String).self) {
                    page.append(row)
                }
                return page
            }
            rows += page.map { ($0.0, $0.1) }
            guard page.count == pageSize, let last = page.last else { return rows }
            cursor = last.2
            try await between?()
        }
        Issue.record("the feed did not end after 1000 pages")
        return rows
    }

    static func expectSame(_ actual: [Row], _ expected: [(UUID, [String])], _ what: String) {
        let actualText = actual.map { "\($0.id.uuidString.prefix(8)) \($0.reasons.joined(separator: ","))" }
        let expectedText = expected.map { "\($0.0.uuidString.prefix(8)) \($0.1.joined(separator: ","))" }
        #expect(actualText == expectedText, "\(what)")
    }

    @Test("every feed, for every viewer, equals the reference, page by page", arguments: [1, 2, 3, 4] as [UInt64])
    func matrix(seed: UInt64) async throws {
        let database = try await TestDatabase.migrated()
        let logger = database.logger
        try await database.withClient { client in
            let model = try await FeedModel.build(seed: seed, on: client)
            #expect(model.posts.count > 5)
            for viewer in model.users {
                let caller = Fixtures.caller(viewer)
                let home = try await Self.walk(client, as: caller, pageSize: 3, logger: logger) { limit, cursor in
                    "SELECT id, reasons, cursor FROM public.feed_fusion_home(p_limit => \(limit)::int, p_cursor => \(cursor))"
                }
                Self.expectSame(home, model.home(viewer), "home of \(viewer) (seed \(seed))")
                for profile in model.users {
                    let feed = try await Self.walk(client, as: caller, pageSize: 2, logger: logger) { limit, cursor in
                        "SELECT id, reasons, cursor FROM public.feed_fusion_profile(\(profile), \(limit)::int, \(cursor))"
                    }
                    Self.expectSame(feed, model.profile(viewer, profile), "profile \(profile) seen by \(viewer) (seed \(seed))")
                }
                for entity in model.entities {
                    let feed = try await Self.walk(client, as: caller, pageSize: 2, logger: logger) { limit, cursor in
                        "SELECT id, reasons, cursor FROM public.feed_fusion_entity(\(entity), \(limit)::int, \(cursor))"
                    }
                    Self.expectSame(feed, model.entity(viewer, entity), "entity \(entity) seen by \(viewer) (seed \(seed))")
                }
            }
            for profile in model.users {
                let feed = try await Self.walk(client, as: .anonymous, pageSize: 4, logger: logger) { limit, cursor in
                    "SELECT id, reasons, cursor FROM public.feed_fusion_profile(\(profile), \(limit)::int, \(cursor))"
                }
                Self.expectSame(feed, model.profile(nil, profile), "profile \(profile) seen by anon (seed \(seed))")
            }
            for entity in model.entities {
                let feed = try await Self.walk(client, as: .anonymous, pageSize: 4, logger: logger) { limit, cursor in
                    "SELECT id, reasons, cursor FROM public.feed_fusion_entity(\(entity), \(limit)::int, \(cursor))"
                }
                Self.expectSame(feed, model.entity(nil, entity), "entity \(entity) seen by anon (seed \(seed))")
            }
        }
    }

    @Test("home of a user following more than 100 profiles (the time-ordered scan) equals the reference, page by page")
    func homeWithManyFollows() async throws {
        let database = try await TestDatabase.migrated()
        let logger = database.logger
        try await database.withClient { client in
            let reader = try await Fixtures.createUser(client, username: "reader")
            let stranger = try await Fixtures.createUser(client, username: "stranger")
            var authors: [UUID] = []
            for index in 0..<130 {
                // Some private profiles (followed, accepted or still pending), some authors blocking or blocked.
                let author = try await Fixtures.createUser(client, username: "author\(index)", isPrivate: index % 9 == 0)
                authors.append(author)
                if index < 120 { try await Fixtures.follow(client, follower: reader, followed: author, accepted: index % 18 != 0) }
                if index % 4 == 0 {
                    let visibility = ["public", "followers", "private"][index % 3]
                    try await Fixtures.createPost(client, author: author, body: "post of \(index)", visibility: visibility)
                }
            }
            try await Fixtures.block(client, blocker: authors[4], blocked: reader)
            try await Fixtures.block(client, blocker: reader, blocked: authors[8])
            for index in 0..<20 { try await Fixtures.createPost(client, author: stranger, body: "unfollowed \(index)") }
            try await Fixtures.createPost(client, author: reader, body: "mine", visibility: "private")
            var model = FeedModel()
            try await model.readBack(client)
            let follows = try await client.query(
                "SELECT count(*)::int FROM public.follows WHERE follower_id = \(reader) AND status = 'accepted'"
            ).decode(Int.self).first { _ in true }
            #expect((follows ?? 0) > 100)
            let expected = model.home(reader)
            #expect(expected.count > 10)
            let walked = try await Self.walk(client, as: Fixtures.caller(reader), pageSize: 4, logger: logger) { limit, cursor in
                "SELECT id, reasons, cursor FROM public.feed_fusion_home(\(limit)::int, \(cursor))"
            }
            Self.expectSame(walked, expected, "home of a user following \(follows ?? 0) profiles")
        }
    }

    @Test("walking a feed while new posts arrive yields the feed as it was: no duplicates, no gaps")
    func paginationUnderWrites() async throws {
        let database = try await TestDatabase.migrated()
        let logger = database.logger
        try await database.withClient { client in
            let reader = try await Fixtures.createUser(client, username: "reader")
            let writer = try await Fixtures.createUser(client, username: "writer")
            try await Fixtures.follow(client, follower: reader, followed: writer)
            // In the past, so that the posts written during the walk are newer than all of these.
            let start = Date().addingTimeInterval(-86_400)
            for index in 0..<37 {
                // Pairs share a timestamp: the id must break the tie consistently across pages.
                try await client.query("""
                    INSERT INTO public.posts (author_id, body, created_at)
                    VALUES (\(writer), \("old \(index)"), \(start.addingTimeInterval(Double(index / 2))))
                    """)
            }
            var model = FeedModel()
            try await model.readBack(client)
            let expected = model.home(reader)
            #expect(expected.count == 37)
            let walked = try await Self.walk(
                client, as: Fixtures.caller(reader), pageSize: 5, logger: logger,
                between: { try await Fixtures.createPost(client, author: writer, body: "new while walking") }
            ) { limit, cursor in
                "SELECT id, reasons, cursor FROM public.feed_fusion_home(\(limit)::int, \(cursor))"
            }
            Self.expectSame(walked, expected, "home walked during inserts")
            #expect(Set(walked.map(\.id)).count == walked.count)
        }
    }

    @Test("changing a post's visibility or its author's privacy changes who sees it through its targets")
    func targetsFollowTheirPost() async throws {
        let database = try await TestDatabase.migrated()
        let logger = database.logger
        try await database.withClient { client in
            let author = try await Fixtures.createUser(client, username: "changer")
            let reader = try await Fixtures.createUser(client, username: "onlooker")
            let place = UUID()
            try await client.query("INSERT INTO public.entities (id, kind, name) VALUES (\(place), 'place', 'Square')")
            let post = try await Fixtures.createPost(client, author: author, body: "at the square")
            try await client.query("INSERT INTO public.post_targets (post_id, target_entity_id) VALUES (\(post), \(place))")
            func seen(_ caller: Caller) async throws -> [String] {
                try await client.withCaller(caller, readOnly: true, logger: logger) { connection in
                    try await connection.strings("SELECT id::text FROM public.feed_fusion_entity(\(place), 20, NULL)", logger: logger)
                }
            }
            let id = post.uuidString.lowercased()
            #expect(try await seen(Fixtures.caller(reader)) == [id])
            #expect(try await seen(.anonymous) == [id])
            // As the author would through PATCH /rest/v1/posts.
            try await client.withCaller(Fixtures.caller(author), logger: logger) { connection in
                _ = try await connection.affectedRows("UPDATE public.posts SET visibility = 'followers' WHERE id = \(post)", logger: logger)
            }
            #expect(try await seen(Fixtures.caller(reader)).isEmpty)
            try await Fixtures.follow(client, follower: reader, followed: author)
            #expect(try await seen(Fixtures.caller(reader)) == [id])
            try await client.withCaller(Fixtures.caller(author), logger: logger) { connection in
                _ = try await connection.affectedRows("UPDATE public.posts SET visibility = 'public' WHERE id = \(post)", logger: logger)
                _ = try await connection.affectedRows("UPDATE public.profiles SET is_private = true WHERE id = \(author)", logger: logger)
            }
            #expect(try await seen(.anonymous).isEmpty)
            #expect(try await seen(Fixtures.caller(reader)) == [id])
            #expect(try await seen(Fixtures.caller(author)) == [id])
        }
    }

    /// The SQLSTATE a call fails with, or nil.
    static func failure(_ client: PostgresClient, _ caller: Caller, _ query: PostgresQuery, _ logger: Logger) async -> String? {
        do {
            try await client.withCaller(caller, logger: logger) { _ = try await $0.query(query, logger: logger).collect() }
            return nil
        } catch let error as PSQLError {
            return error.serverInfo?[.sqlState]
        } catch {
            return "\(error)"
        }
    }

    @Test("bad limits, cursors and coordinates are the caller's error (22023), anon has no home feed (42501)")
    func badInput() async throws {
        let database = try await TestDatabase.migrated()
        let logger = database.logger
        try await database.withClient { client in
            let user = Fixtures.caller(try await Fixtures.createUser(client, username: "someone"))
            let cases: [PostgresQuery] = [
                "SELECT * FROM public.feed_fusion_home(0)",
                "SELECT * FROM public.feed_fusion_home(101)",
                "SELECT * FROM public.feed_fusion_home(20, 'not a cursor')",
                "SELECT * FROM public.feed_fusion_home(20, \("MTIzfm5vdC1hLXV1aWQ"))",
                "SELECT * FROM public.feed_fusion_home(20, \("////"))",
                "SELECT * FROM public.feed_fusion_profile(\(UUID()), 20, \(String(repeating: "A", count: 500)))",
                "SELECT * FROM public.feed_fusion_nearby(91, 0)",
                "SELECT * FROM public.feed_fusion_nearby(0, -180.5)",
                "SELECT * FROM public.feed_fusion_nearby('NaN'::float8, 0)",
                "SELECT * FROM public.feed_fusion_nearby(0, 0, 50001)",
                "SELECT * FROM public.feed_fusion_nearby(0, 0, 0)",
            ]
            for query in cases {
                #expect(await Self.failure(client, user, query, logger) == "22023", "\(query.sql)")
            }
            #expect(await Self.failure(client, .anonymous, "SELECT * FROM public.feed_fusion_home()", logger) == "42501")
            #expect(await Self.failure(client, user, "SELECT * FROM public.feed_fusion_home(100, NULL)", logger) == nil)
        }
    }

    @Test("nearby: the radius edge, across the antimeridian and at the poles, by post or by target entity")
    func nearby() async throws {
        let database = try await TestDatabase.migrated()
        let logger = database.logger
        try await database.withClient { client in
            let author = try await Fixtures.createUser(client, username: "traveller")
            /// A post placed `metres` from (lat, lng) along `azimuth` degrees, by PostGIS on the spheroid.
            func post(_ body: String, lat: Double, lng: Double, metres: Double, azimuth: Double = 0) async throws -> UUID {
                let id = UUID()
                try await client.query("""
                    INSERT INTO public.posts (id, author_id, body, location)
                    VALUES (\(id), \(author), \(body), extensions.st_project(
                        extensions.st_setsrid(extensions.st_makepoint(\(lng), \(lat)), 4326)::extensions.geography,
                        \(metres), radians(\(azimuth))))
                    """)
                return id
            }
            let inside = try await post("inside", lat: 48.8566, lng: 2.3522, metres: 4990)
            let outside = try await post("outside", lat: 48.8566, lng: 2.3522, metres: 5010)
            let acrossAntimeridian = try await post("across", lat: 0, lng: 179.99, metres: 3000, azimuth: 90)
            let nearPole = try await post("pole", lat: 89.99, lng: 0, metres: 2000, azimuth: 0)
            // By target: a post without a location that targets a place in range.
            let place = UUID()
            try await client.query("""
                INSERT INTO public.entities (id, kind, name, location)
                VALUES (\(place), 'place', 'Ville', extensions.st_setsrid(extensions.st_makepoint(2.36, 48.86), 4326)::extensions.geography)
                """)
            let targeting = try await Fixtures.createPost(client, author: author, body: "about the place")
            try await client.query("INSERT INTO public.post_targets (post_id, target_entity_id) VALUES (\(targeting), \(place))")

            // Newer posts in the circle that anon may not see: skipped, without costing the page its rows.
            for index in 0..<7 {
                let hidden = try await post("hidden \(index)", lat: 48.8566, lng: 2.3522, metres: 100)
                try await client.query("UPDATE public.posts SET visibility = 'private' WHERE id = \(hidden)")
            }

            func near(_ lat: Double, _ lng: Double, _ radius: Int) async throws -> Set<UUID> {
                let rows = try await Self.walk(client, as: .anonymous, pageSize: 2, logger: logger) { limit, cursor in
                    "SELECT id, reasons, cursor FROM public.feed_fusion_nearby(\(lat), \(lng), \(radius)::int, \(limit)::int, \(cursor))"
                }
                #expect(rows.allSatisfy { $0.reasons == ["nearby"] })
                return Set(rows.map(\.id))
            }
            #expect(try await near(48.8566, 2.3522, 5000) == [inside, targeting])
            #expect(try await near(48.8566, 2.3522, 5020) == [inside, outside, targeting])
            #expect(try await near(0, -179.995, 5000) == [acrossAntimeridian])
            #expect(try await near(89.995, 180, 5000) == [nearPole])
            #expect(try await near(-33.9, 18.4, 50000).isEmpty)
        }
    }

    @Test("nearby, wide circles: pages from the newest posts while they hold the circle, from the index below them")
    func wideNearby() async throws {
        let database = try await TestDatabase.migrated()
        let logger = database.logger
        try await database.withClient { client in
            let author = try await Fixtures.createUser(client, username: "wanderer")
            /// Posts `metres` north of Paris, `count` of them, starting `daysAgo` days back, a minute apart.
            func located(_ prefix: String, metres: Double, count: Int, daysAgo: Int) async throws {
                try await client.query("""
                    INSERT INTO public.posts (author_id, body, location, created_at)
                    SELECT \(author), \(prefix) || g, extensions.st_project(
                        extensions.st_setsrid(extensions.st_makepoint(2.3522, 48.8566), 4326)::extensions.geography, \(metres), 0),
                        now() - make_interval(days => \(daysAgo)::int) + make_interval(mins => g)
                    FROM generate_series(1, \(count)::int) g
                    """)
            }
            try await located("old inside ", metres: 20_000, count: 5, daysAgo: 3)
            // More newer posts without a place than the first try reads (2,000): the index must answer below them.
            try await client.query("""
                INSERT INTO public.posts (author_id, body, created_at)
                SELECT \(author), 'elsewhere ' || g, now() - interval '2 days' + make_interval(secs => g) FROM generate_series(1, 2100) g
                """)
            try await located("new inside ", metres: 25_000, count: 7, daysAgo: 1)
            try await located("new outside ", metres: 40_000, count: 3, daysAgo: 1)
            var expected: [UUID] = []
            let rows = try await client.query("""
                SELECT id FROM public.posts WHERE body LIKE '% inside %' ORDER BY created_at DESC, id DESC
                """, logger: logger)
            for try await id in rows.decode(UUID.self) { expected.append(id) }
            #expect(expected.count == 12)
            let walked = try await Self.walk(client, as: .anonymous, pageSize: 3, logger: logger) { limit, cursor in
                "SELECT id, reasons, cursor FROM public.feed_fusion_nearby(48.8566, 2.3522, 30000, \(limit)::int, \(cursor))"
            }
            #expect(walked.map(\.id) == expected)
        }
    }
}

@Suite("Database-side rate limiter")
struct RateLimitFunctionTests {
    @Test("concurrent hits on one key: exactly p_max are allowed; keys of different users are apart")
    func concurrent() async throws {
        let database = try await TestDatabase.migrated()
        let logger = database.logger
        try await database.withClient { client in
            let user = try await Fixtures.createUser(client, username: "limited")
            let other = try await Fixtures.createUser(client, username: "unlimited")
            let allowed = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        try await client.withCaller(Fixtures.caller(user), logger: logger) { connection in
                            for try await ok in try await connection.query(
                                "SELECT public.check_rate_limit('burst', 15, 3600)", logger: logger
                            ).decode(Bool.self) { return ok }
                            return false
                        }
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(allowed == 15)
            let otherAllowed = try await client.withCaller(Fixtures.caller(other), logger: logger) { connection in
                try await connection.strings("SELECT public.check_rate_limit('burst', 15, 3600)::text", logger: logger)
            }
            #expect(otherAllowed == ["true"])
            let refused = await FeedTests.failure(client, Fixtures.caller(user), "SELECT public.check_rate_limit('k', 0, 60)", logger)
            #expect(refused == "22023")
        }
    }
}
