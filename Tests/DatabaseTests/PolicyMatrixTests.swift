import Database
import Foundation
import Logging
import PostgresNIO
import Testing
import TestSupport

/// Who may select, insert, update and delete which rows, executed through the role-switching
/// helper exactly as requests will run — never as the superuser.
///
/// The cast: A (public profile, author of one post per visibility), B (accepted follower of A),
/// C (blocked by A), D (signed in, no relation), E (private profile; B's request pending, F accepted),
/// an admin, and anon.
@Suite("Row Level Security policy matrix")
struct PolicyMatrixTests {
    struct World: Sendable {
        let a, b, c, d, e, f, admin: UUID
        let publicPost, followersPost, privatePost, cPost, ePost: UUID
    }

    static func makeWorld(_ client: PostgresClient) async throws -> World {
        let a = try await Fixtures.createUser(client, username: "alice")
        let b = try await Fixtures.createUser(client, username: "bob")
        let c = try await Fixtures.createUser(client, username: "carol")
        let d = try await Fixtures.createUser(client, username: "dave")
        let e = try await Fixtures.createUser(client, username: "erin", isPrivate: true)
        let f = try await Fixtures.createUser(client, username: "frank")
        let admin = try await Fixtures.createUser(client, username: "root_admin", admin: true)
        try await Fixtures.follow(client, follower: b, followed: a)
        try await Fixtures.follow(client, follower: b, followed: e, accepted: false)
        try await Fixtures.follow(client, follower: f, followed: e)
        try await Fixtures.block(client, blocker: a, blocked: c)
        return World(
            a: a, b: b, c: c, d: d, e: e, f: f, admin: admin,
            publicPost: try await Fixtures.createPost(client, author: a, body: "a-public"),
            followersPost: try await Fixtures.createPost(client, author: a, body: "a-followers", visibility: "followers"),
            privatePost: try await Fixtures.createPost(client, author: a, body: "a-private", visibility: "private"),
            cPost: try await Fixtures.createPost(client, author: c, body: "c-public"),
            ePost: try await Fixtures.createPost(client, author: e, body: "e-public"))
    }

    /// Runs the test body against a fresh database holding the world above.
    func withWorld(_ body: @Sendable (PostgresClient, World, Logger) async throws -> Void) async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            try await body(client, try await Self.makeWorld(client), database.logger)
        }
    }

    func visible(_ client: PostgresClient, _ caller: Caller, _ query: PostgresQuery, _ logger: Logger) async throws -> Set<String> {
        Set(try await client.withCaller(caller, logger: logger) { try await $0.strings(query, logger: logger) })
    }

    func changed(_ client: PostgresClient, _ caller: Caller, _ query: PostgresQuery, _ logger: Logger) async throws -> Int {
        try await client.withCaller(caller, logger: logger) { try await $0.affectedRows(query, logger: logger) }
    }

    /// The SQLSTATE a write fails with, or nil when it succeeds.
    func sqlState(_ client: PostgresClient, _ caller: Caller, _ query: PostgresQuery, _ logger: Logger) async -> String? {
        do {
            _ = try await changed(client, caller, query, logger)
            return nil
        } catch let error as PSQLError {
            return error.serverInfo?[.sqlState]
        } catch {
            return "unexpected: \(error)"
        }
    }

    @Test("select on posts: each visibility for each caller")
    func selectPosts() async throws {
        try await withWorld { (client: PostgresClient, w: World, logger: Logger) async throws in
            let aPosts: PostgresQuery = "SELECT body FROM public.posts WHERE body LIKE 'a-%'"
            #expect(try await visible(client, .anonymous, aPosts, logger) == ["a-public"])
            #expect(try await visible(client, Fixtures.caller(w.a), aPosts, logger) == ["a-public", "a-followers", "a-private"])
            #expect(try await visible(client, Fixtures.caller(w.b), aPosts, logger) == ["a-public", "a-followers"])
            #expect(try await visible(client, Fixtures.caller(w.c), aPosts, logger) == [])
            #expect(try await visible(client, Fixtures.caller(w.d), aPosts, logger) == ["a-public"])
            #expect(try await visible(client, Fixtures.caller(w.admin), aPosts, logger) == ["a-public", "a-followers", "a-private"])
            #expect(try await visible(client, Fixtures.serviceRole, aPosts, logger) == ["a-public", "a-followers", "a-private"])
        }
    }

    @Test("blocks hide posts in both directions")
    func blocksBothWays() async throws {
        try await withWorld { (client: PostgresClient, w: World, logger: Logger) async throws in
            let cPosts: PostgresQuery = "SELECT body FROM public.posts WHERE body = 'c-public'"
            #expect(try await visible(client, .anonymous, cPosts, logger) == ["c-public"])
            #expect(try await visible(client, Fixtures.caller(w.b), cPosts, logger) == ["c-public"])
            #expect(try await visible(client, Fixtures.caller(w.a), cPosts, logger) == [])
            #expect(try await visible(client, Fixtures.caller(w.c), cPosts, logger) == ["c-public"])
        }
    }

    @Test("a private profile and its posts are seen only by itself, accepted followers and admins")
    func privateProfile() async throws {
        try await withWorld { (client: PostgresClient, w: World, logger: Logger) async throws in
            let profile: PostgresQuery = "SELECT username FROM public.profiles WHERE username = 'erin'"
            let posts: PostgresQuery = "SELECT body FROM public.posts WHERE body = 'e-public'"
            for caller in [Caller.anonymous, Fixtures.caller(w.b), Fixtures.caller(w.d)] {
                #expect(try await visible(client, caller, profile, logger) == [])
                #expect(try await visible(client, caller, posts, logger) == [])
            }
            for caller in [Fixtures.caller(w.e), Fixtures.caller(w.f), Fixtures.caller(w.admin)] {
                #expect(try await visible(client, caller, profile, logger) == ["erin"])
                #expect(try await visible(client, caller, posts, logger) == ["e-public"])
            }
        }
    }

    @Test("select on profiles: public to all, hidden from those the profile blocks")
    func selectProfiles() async throws {
        try await withWorld { (client: PostgresClient, w: World, logger: Logger) async throws in
            let alice: PostgresQuery = "SELECT username FROM public.profiles WHERE username = 'alice'"
            #expect(try await visible(client, .anonymous, alice, logger) == ["alice"])
            #expect(try await visible(client, Fixtures.caller(w.d), alice, logger) == ["alice"])
            #expect(try await visible(client, Fixtures.caller(w.c), alice, logger) == [])
            // The blocker still sees whom they blocked (to unblock them).
            let carol: PostgresQuery = "SELECT username FROM public.profiles WHERE username = 'carol'"
            #expect(try await visible(client, Fixtures.caller(w.a), carol, logger) == ["carol"])
        }
    }

    @Test("insert: only as yourself, never as anon")
    func insertPosts() async throws {
        try await withWorld { (client: PostgresClient, w: World, logger: Logger) async throws in
            let asA: PostgresQuery = "INSERT INTO public.posts (author_id, body) VALUES (\(w.a), 'forged')"
            #expect(await sqlState(client, .anonymous, asA, logger) == "42501")
            #expect(await sqlState(client, Fixtures.caller(w.b), asA, logger) == "42501")
            #expect(await sqlState(client, Fixtures.caller(w.admin), asA, logger) == "42501")
            #expect(await sqlState(client, Fixtures.caller(w.a), asA, logger) == nil)
            // Server-managed columns are not the client's to set.
            let backdated: PostgresQuery =
                "INSERT INTO public.posts (author_id, body, created_at) VALUES (\(w.b), 'old', now() - interval '1 year')"
            #expect(await sqlState(client, Fixtures.caller(w.b), backdated, logger) == "42501")
            let forgedProfile: PostgresQuery = "INSERT INTO public.profiles (id, username) VALUES (\(UUID()), 'mallory')"
            #expect(await sqlState(client, Fixtures.caller(w.b), forgedProfile, logger) == "42501")
            #expect(await sqlState(client, .anonymous, forgedProfile, logger) == "42501")
        }
    }

    @Test("update: authors change their own posts; nobody else, admins included")
    func updatePosts() async throws {
        try await withWorld { (client: PostgresClient, w: World, logger: Logger) async throws in
            let edit: PostgresQuery = "UPDATE public.posts SET body = 'edited' WHERE author_id = \(w.a)"
            #expect(try await changed(client, Fixtures.caller(w.b), edit, logger) == 0)
            #expect(try await changed(client, Fixtures.caller(w.admin), edit, logger) == 0)
            #expect(await sqlState(client, .anonymous, edit, logger) == "42501")
            #expect(try await changed(client, Fixtures.caller(w.a), edit, logger) == 3)
            // Handing a post to someone else is refused: author_id is not an updatable column.
            let handOver: PostgresQuery = "UPDATE public.posts SET author_id = \(w.b) WHERE id = \(w.publicPost)"
            #expect(await sqlState(client, Fixtures.caller(w.a), handOver, logger) == "42501")
        }
    }

    @Test("delete: authors and admins remove posts; others remove nothing")
    func deletePosts() async throws {
        try await withWorld { (client: PostgresClient, w: World, logger: Logger) async throws in
            #expect(try await changed(client, Fixtures.caller(w.b), "DELETE FROM public.posts WHERE author_id = \(w.a)", logger) == 0)
            #expect(await sqlState(client, .anonymous, "DELETE FROM public.posts", logger) == "42501")
            #expect(try await changed(client, Fixtures.caller(w.admin), "DELETE FROM public.posts WHERE id = \(w.publicPost)", logger) == 1)
            #expect(try await changed(client, Fixtures.caller(w.a), "DELETE FROM public.posts WHERE author_id = \(w.a)", logger) == 2)
        }
    }

    @Test("profiles: each user updates only their own, and only the editable columns")
    func updateProfiles() async throws {
        try await withWorld { (client: PostgresClient, w: World, logger: Logger) async throws in
            let rename: PostgresQuery = "UPDATE public.profiles SET display_name = 'Alice' WHERE id = \(w.a)"
            #expect(try await changed(client, Fixtures.caller(w.b), rename, logger) == 0)
            #expect(try await changed(client, Fixtures.caller(w.admin), rename, logger) == 0)
            #expect(try await changed(client, Fixtures.caller(w.a), rename, logger) == 1)
            let redate: PostgresQuery = "UPDATE public.profiles SET created_at = now() WHERE id = \(w.a)"
            #expect(await sqlState(client, Fixtures.caller(w.a), redate, logger) == "42501")
            #expect(await sqlState(client, Fixtures.caller(w.a), "DELETE FROM public.profiles WHERE id = \(w.a)", logger) == "42501")
        }
    }

    @Test("follows: no following across a block; private profiles accept requests themselves")
    func follows() async throws {
        try await withWorld { (client: PostgresClient, w: World, logger: Logger) async throws in
            let cFollowsA: PostgresQuery = "INSERT INTO public.follows (follower_id, followed_profile_id) VALUES (\(w.c), \(w.a))"
            #expect(await sqlState(client, Fixtures.caller(w.c), cFollowsA, logger) == "42501")
            let dFollowsAsB: PostgresQuery = "INSERT INTO public.follows (follower_id, followed_profile_id) VALUES (\(w.b), \(w.d))"
            #expect(await sqlState(client, Fixtures.caller(w.d), dFollowsAsB, logger) == "42501")

            let dFollowsE: PostgresQuery = "INSERT INTO public.follows (follower_id, followed_profile_id) VALUES (\(w.d), \(w.e))"
            #expect(await sqlState(client, Fixtures.caller(w.d), dFollowsE, logger) == nil)
            let status: PostgresQuery = "SELECT status FROM public.follows WHERE follower_id = \(w.d) AND followed_profile_id = \(w.e)"
            #expect(try await visible(client, Fixtures.caller(w.d), status, logger) == ["pending"])
            let accept: PostgresQuery =
                "UPDATE public.follows SET status = 'accepted' WHERE follower_id = \(w.d) AND followed_profile_id = \(w.e)"
            #expect(try await changed(client, Fixtures.caller(w.d), accept, logger) == 0)
            #expect(try await changed(client, Fixtures.caller(w.e), accept, logger) == 1)
            #expect(try await visible(client, Fixtures.caller(w.d), "SELECT body FROM public.posts WHERE author_id = \(w.e)", logger) == ["e-public"])
        }
    }

    @Test("blocks are private to the blocker, and a block ends following both ways")
    func blocks() async throws {
        try await withWorld { (client: PostgresClient, w: World, logger: Logger) async throws in
            let all: PostgresQuery = "SELECT blocked_id::text FROM public.blocks"
            #expect(try await visible(client, Fixtures.caller(w.a), all, logger) == [w.c.uuidString.lowercased()])
            #expect(try await visible(client, Fixtures.caller(w.c), all, logger) == [])
            #expect(await sqlState(client, .anonymous, all, logger) == "42501")

            let block: PostgresQuery = "INSERT INTO public.blocks (blocker_id, blocked_id) VALUES (\(w.a), \(w.b))"
            #expect(await sqlState(client, Fixtures.caller(w.a), block, logger) == nil)
            let edges: PostgresQuery =
                "SELECT follower_id::text FROM public.follows WHERE follower_id = \(w.b) AND followed_profile_id = \(w.a)"
            #expect(try await visible(client, Fixtures.serviceRole, edges, logger) == [])
            #expect(try await visible(client, Fixtures.caller(w.b), "SELECT body FROM public.posts WHERE author_id = \(w.a)", logger) == [])
        }
    }

    @Test("admin functions refuse everyone but admins, from inside the function")
    func adminFunctions() async throws {
        try await withWorld { (client: PostgresClient, w: World, logger: Logger) async throws in
            let stats: PostgresQuery = "SELECT public.admin_dashboard_stats()::text"
            #expect(await sqlState(client, .anonymous, stats, logger) == "42501")
            #expect(await sqlState(client, Fixtures.caller(w.b), stats, logger) == "42501")
            let answer = try await visible(client, Fixtures.caller(w.admin), "SELECT (public.admin_dashboard_stats() ->> 'users')", logger)
            #expect(answer == ["7"])
            #expect(await sqlState(client, Fixtures.serviceRole, stats, logger) == nil)

            let remove: PostgresQuery = "SELECT public.admin_delete_post(\(w.privatePost))::text"
            #expect(await sqlState(client, Fixtures.caller(w.b), remove, logger) == "42501")
            #expect(try await visible(client, Fixtures.caller(w.admin), remove, logger) == ["true"])
            #expect(try await visible(client, Fixtures.caller(w.b), "SELECT public.is_admin()::text", logger) == ["false"])
        }
    }

    @Test("the auth schema's tables are closed to anon and authenticated")
    func authTablesClosed() async throws {
        try await withWorld { (client: PostgresClient, w: World, logger: Logger) async throws in
            #expect(await sqlState(client, .anonymous, "SELECT email FROM auth.users", logger) == "42501")
            #expect(await sqlState(client, Fixtures.caller(w.a), "SELECT email FROM auth.users", logger) == "42501")
            #expect(await sqlState(client, Fixtures.caller(w.a), "SELECT id::text FROM auth.refresh_tokens", logger) == "42501")
        }
    }
}
