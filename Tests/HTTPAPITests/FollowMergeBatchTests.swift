import Database
import Foundation
import NIOCore
import PostgresNIO
import Testing
import TestSupport

@testable import FeedCache

/// The listener merges a batch's follows into the followers' cached home windows in one query
/// (`CacheInvalidationListener.merge`). When a viewer has several follows in one batch — here a
/// profile and a place followed and a profile unfollowed, committed together — every one of them
/// reaches the window, merged once from answers read together: the window is the viewer's home
/// under their own role, down to its last row.
@Suite("A batch of follows merged in one query")
struct FollowMergeBatchTests {
    @Test("several follows of one viewer in one batch leave the window as the feed under the viewer's role")
    func severalFollowsInOneBatch() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { db in
            let viewer = try await Fixtures.createUser(db, username: "batch_viewer")
            let prolific = try await Fixtures.createUser(db, username: "batch_prolific")
            let quiet = try await Fixtures.createUser(db, username: "batch_quiet")
            let other = try await Fixtures.createUser(db, username: "batch_other")
            let place = UUID()
            try await db.query("INSERT INTO public.entities (id, kind, name) VALUES (\(place), 'place', 'batch place')")
            try await Fixtures.follow(db, follower: viewer, followed: prolific)
            for index in 0..<50 {
                try await Fixtures.createPost(db, author: prolific, body: "prolific \(index)", visibility: index % 5 == 4 ? "followers" : "public")
                if index % 2 == 0 { try await Fixtures.createPost(db, author: quiet, body: "quiet \(index)") }
                if index % 3 == 0 {
                    let there = try await Fixtures.createPost(db, author: other, body: "other \(index)")
                    try await db.query("INSERT INTO public.post_targets (post_id, target_entity_id) VALUES (\(there), \(place))")
                }
            }
            // The viewer's first 60 home rows under their own role, as the feed answers them.
            @Sendable func home() async throws -> String {
                try await db.withCaller(Fixtures.caller(viewer), readOnly: true, logger: database.logger) { connection in
                    var json = "[]"
                    let rows = try await connection.query(
                        "SELECT coalesce(json_agg(to_json(f)), '[]')::text FROM public.feed_fusion_home(60) f", logger: database.logger)
                    for try await row in rows.decode(String.self) { json = row }
                    return json
                }
            }
            // The viewer's window, as the read path keeps it (the tags say whose window it is and how long).
            let cache = ResponseCache(ResponseCache.Configuration())
            let id = CacheTag.id(viewer)
            let tags = [CacheTag.viewer(id), CacheTag(ResponseCache.homeTopKind, "\(id)/60"), CacheTag(ResponseCache.homeWindowKind, id)]
            let before = try await home()
            _ = try await cache.fetch("window", tags: tags) {
                CachedResponse(status: 200, contentType: "application/json", contentRange: nil, body: ByteBuffer(string: before))
            }
            // Three follows committed together, as one batch announces them.
            try await db.query("""
                WITH a AS (INSERT INTO public.follows (follower_id, followed_profile_id) VALUES (\(viewer), \(quiet)) RETURNING 1),
                     b AS (INSERT INTO public.follows (follower_id, followed_entity_id) VALUES (\(viewer), \(place)) RETURNING 1),
                     c AS (DELETE FROM public.follows WHERE follower_id = \(viewer) AND followed_profile_id = \(prolific) RETURNING 1)
                SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b) + (SELECT count(*) FROM c)
                """)
            let listener = CacheInvalidationListener(client: db, cache: cache, logger: database.logger)
            try await db.withConnection { connection in
                await listener.merge([(viewer, quiet, nil), (viewer, nil, place), (viewer, prolific, nil)], on: connection)
            }
            let window = try await cache.fetch("window", tags: tags) {
                Issue.record("the window was dropped, not merged")
                return CachedResponse(status: 200, contentType: "application/json", contentRange: nil, body: ByteBuffer(string: "[]"))
            }
            let merged = SharedPagesTests.canonical(try JSONSerialization.jsonObject(with: Data(window.response.body.readableBytesView)))
            let expected = SharedPagesTests.canonical(try JSONSerialization.jsonObject(with: Data(try await home().utf8)))
            // The window holds every home row down to its last one (an unfollow may have shortened it).
            #expect(merged.count >= 20)
            #expect(merged == Array(expected.prefix(merged.count)))
            #expect(merged.contains { $0.contains("\"quiet ") } && merged.contains { $0.contains("\"other ") })
            #expect(!merged.contains { $0.contains("\"prolific ") })
        }
    }
}
