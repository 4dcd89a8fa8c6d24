import Database
import Foundation
import Logging
import PostgresNIO
import Testing
import TestSupport

/// `realtime.post_for_readers` (migration 0025) spells the posts policy out set-wise, so that one
/// query finds which of a thousand subscribers may receive a changed post. Here it is held to the
/// policy itself: on random worlds, for every post, the readers it names are exactly the users who
/// can select the post under their role and RLS, and each gets the very row they would select —
/// also after a follow, an unfollow, a block, a profile turned private and a post turned
/// followers-only.
@Suite("Realtime post readers agree with the policies")
struct RealtimePostReadersTests {
    static func expectAgreement(_ client: PostgresClient, _ model: FeedModel, _ what: String, logger: Logger) async throws {
        var underRLS: [UUID: [UUID: String]] = [:]  // post → user → row
        for user in model.users {
            let rows = try await client.withCaller(Fixtures.caller(user), readOnly: true, logger: logger) { connection in
                try await connection.query("SELECT p.id, to_jsonb(p)::text FROM public.posts p", logger: logger)
                    .decode((UUID, String).self).reduce(into: [(UUID, String)]()) { $0.append($1) }
            }
            for (post, row) in rows { underRLS[post, default: [:]][user] = row }
        }
        let posts = try await client.query("SELECT id FROM public.posts").decode(UUID.self).reduce(into: [UUID]()) { $0.append($1) }
        var readersSeen = 0
        for post in posts {
            var named: [UUID: String] = [:]
            for try await (viewer, row) in try await client.query(
                "SELECT viewer, record::text FROM realtime.post_for_readers(\(post), \(model.users))", logger: logger
            ).decode((UUID, String).self) {
                named[viewer] = row
            }
            let wanted = underRLS[post] ?? [:]
            #expect(Set(named.keys) == Set(wanted.keys), "\(what): readers of post \(post)")
            for (user, row) in wanted where named[user] != nil {
                #expect(try JSONValueText(named[user]!) == JSONValueText(row), "\(what): post \(post) as \(user)")
                readersSeen += 1
            }
        }
        #expect(readersSeen > 0 && readersSeen < posts.count * model.users.count, "\(what): some readers, not everyone everywhere")
    }

    /// Row text compared as parsed JSON (key order is the same, but this is not what is asserted).
    static func JSONValueText(_ text: String) throws -> NSDictionary {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary ?? [:]
    }

    @Test("every post: the readers and rows RLS gives each user", arguments: [1, 2, 3] as [UInt64])
    func agreement(seed: UInt64) async throws {
        let database = try await TestDatabase.migrated()
        let logger = database.logger
        try await database.withClient { client in
            let model = try await FeedModel.build(seed: seed, on: client)
            try await Self.expectAgreement(client, model, "seed \(seed)", logger: logger)
            var random = SeededGenerator(seed: seed &+ 200)
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
            try await Self.expectAgreement(client, model, "seed \(seed), changed", logger: logger)
        }
    }

    /// Column privileges (migration 0027): a subscriber's record holds the columns its role may
    /// select and no other; a role that may select none gets no record — on any published table
    /// (`realtime.visible_rows`) and on posts (`realtime.post_for_readers`).
    @Test("records leave out the columns the subscriber's role may not select")
    func columnPrivileges() async throws {
        let database = try await TestDatabase.migrated()
        let logger = database.logger
        try await database.withClient { client in
            for statement: PostgresQuery in [
                "CREATE TABLE public.rt_notes (id integer PRIMARY KEY, title text, secret text)",
                "ALTER TABLE public.rt_notes ENABLE ROW LEVEL SECURITY",
                "CREATE POLICY rt_notes_read ON public.rt_notes FOR SELECT USING (true)",
                "GRANT SELECT (id, title) ON public.rt_notes TO authenticated",
                "GRANT SELECT ON public.rt_notes TO service_role",
                "INSERT INTO public.rt_notes VALUES (1, 'hello', 'hush')",
            ] { try await client.query(statement, logger: logger) }
            let user = UUID()
            let claims = [
                #"{"role":"authenticated","sub":"\#(user.uuidString.lowercased())"}"#, #"{"role":"service_role"}"#, #"{"role":"anon"}"#,
            ]
            var records: [Int: NSDictionary] = [:]
            for try await (index, record) in try await client.query(
                #"SELECT claims_index, record::text FROM realtime.visible_rows('public.rt_notes'::regclass, '{"id": 1}'::jsonb, \#(claims))"#,
                logger: logger
            ).decode((Int, String).self) {
                records[index] = try Self.JSONValueText(record)
            }
            #expect(records[1] == ["id": 1, "title": "hello"] as NSDictionary)
            #expect(records[2] == ["id": 1, "title": "hello", "secret": "hush"] as NSDictionary)
            #expect(records[3] == nil, "anon may select no column of the table")

            // Posts: the body withheld from signed-in users is left out of the record they get.
            let model = try await FeedModel.build(seed: 7, on: client)
            let post = model.posts[0]
            let columns = try await client.query(
                "SELECT string_agg(quote_ident(attname), ', ') FROM pg_attribute WHERE attrelid = 'public.posts'::regclass AND attnum > 0 AND NOT attisdropped AND attname <> 'body'",
                logger: logger
            ).decode(String.self).reduce(into: [String]()) { $0.append($1) }[0]
            try await client.query("REVOKE SELECT ON public.posts FROM authenticated", logger: logger)
            try await client.query(PostgresQuery(unsafeSQL: "GRANT SELECT (\(columns)) ON public.posts TO authenticated"), logger: logger)
            var readers = 0
            for try await record in try await client.query(
                "SELECT record::text FROM realtime.post_for_readers(\(post.id), \(model.users))", logger: logger
            ).decode(String.self) {
                let fields = try Self.JSONValueText(record)
                #expect(fields["body"] == nil && fields["id"] != nil, "\(record)")
                readers += 1
            }
            #expect(readers > 0)
        }
    }
}
