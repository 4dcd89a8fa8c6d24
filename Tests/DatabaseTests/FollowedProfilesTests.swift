import Database
import Foundation
import PostgresNIO
import Testing
import TestSupport

/// The per-user array of accepted profile follows that the feed policies read (migration 0013)
/// follows every change of `public.follows`, in the same transaction, whoever makes it, and stays
/// in ascending order (the policies binary-search it, migration 0015).
@Suite("Followed-profiles arrays")
struct FollowedProfilesTests {
    /// The stored array as a set, after checking that it is in ascending order without repeats.
    static func followed(_ client: PostgresClient, _ user: UUID) async throws -> Set<UUID> {
        var stored: [UUID] = []
        let rows = try await client.query("""
            SELECT p FROM internal.followed_profiles, unnest(profiles) WITH ORDINALITY AS a(p, n)
            WHERE user_id = \(user) ORDER BY n
            """, logger: testLogger)
        for try await id in rows.decode(UUID.self) { stored.append(id) }
        // PostgreSQL orders uuids by their bytes, as their hex text sorts.
        #expect(stored == stored.sorted { $0.uuidString < $1.uuidString }, "not in ascending order: \(stored)")
        #expect(Set(stored).count == stored.count, "repeats: \(stored)")
        return Set(stored)
    }

    @Test("follow, accept, unfollow, a block, concurrent follows and TRUNCATE keep the array exact")
    func maintained() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            let reader = try await Fixtures.createUser(client, username: "reader")
            let open = try await Fixtures.createUser(client, username: "open")
            let closed = try await Fixtures.createUser(client, username: "closed", isPrivate: true)
            #expect(try await Self.followed(client, reader).isEmpty)

            try await Fixtures.follow(client, follower: reader, followed: open)
            try await Fixtures.follow(client, follower: reader, followed: closed, accepted: false)
            #expect(try await Self.followed(client, reader) == [open])  // a pending request does not count
            try await client.query("UPDATE public.follows SET status = 'accepted' WHERE followed_profile_id = \(closed)")
            #expect(try await Self.followed(client, reader) == [open, closed])

            // A block ends the follow (trigger on blocks), and with it the entry.
            try await Fixtures.block(client, blocker: closed, blocked: reader)
            #expect(try await Self.followed(client, reader) == [open])
            try await client.query("DELETE FROM public.follows WHERE follower_id = \(reader) AND followed_profile_id = \(open)")
            #expect(try await Self.followed(client, reader).isEmpty)

            // 30 follows by one user at once, each in its own transaction: none lost.
            var authors: [UUID] = []
            for index in 0..<30 { authors.append(try await Fixtures.createUser(client, username: "author\(index)")) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for author in authors {
                    group.addTask { try await Fixtures.follow(client, follower: reader, followed: author) }
                }
                try await group.waitForAll()
            }
            #expect(try await Self.followed(client, reader) == Set(authors))
            // Unfollowing from the middle and following again keep the order.
            for author in authors.sorted(by: { $0.uuidString < $1.uuidString }).dropFirst(10).prefix(5) {
                try await client.query("DELETE FROM public.follows WHERE follower_id = \(reader) AND followed_profile_id = \(author)")
                #expect(try await Self.followed(client, reader).count == 29)
                try await Fixtures.follow(client, follower: reader, followed: author)
            }
            #expect(try await Self.followed(client, reader) == Set(authors))
            // Through the function the policies call, as the user.
            let seen = try await client.withCaller(Fixtures.caller(reader), readOnly: true, logger: database.logger) { connection in
                try await connection.query("SELECT cardinality(internal.viewer_followed_profiles())", logger: database.logger)
                    .decode(Int.self).first { _ in true }
            }
            #expect(seen == 30)
            // Entity follows are not profile follows.
            let place = UUID()
            try await client.query("INSERT INTO public.entities (id, kind, name) VALUES (\(place), 'place', 'Somewhere')")
            try await client.query("INSERT INTO public.follows (follower_id, followed_entity_id) VALUES (\(reader), \(place))")
            #expect(try await Self.followed(client, reader).count == 30)

            try await client.query("TRUNCATE public.follows")
            #expect(try await Self.followed(client, reader).isEmpty)
        }
    }
}
