import Foundation
import HTTPTypes
import PostgresNIO
import Testing
import TestSupport

@Suite("Data API: writes and RPC")
struct RestWriteTests {
    @Test("insert one and many, with representation, Location, columns and missing=default")
    func insert() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, _) async throws in
            let bob = rest.callAs(try await RestTestClient.token(for: w.b))
            let one = try await bob.send(.post, "/posts?select=body,visibility", json: ["author_id": w.b.uuidString, "body": "new"],
                                         headers: ["Prefer": "return=representation"])
            #expect(one.status == .created)
            #expect(one.rows.first?["body"] as? String == "new")
            #expect(one.rows.first?["visibility"] as? String == "public")

            let minimal = try await bob.send(.post, "/posts", json: ["id": UUID().uuidString, "author_id": w.b.uuidString, "body": "quiet"])
            #expect(minimal.status == .created)
            #expect(minimal.body.isEmpty)
            #expect(minimal["Location"]?.hasPrefix("/posts?id=eq.") == true)

            let many = try await bob.send(
                .post, "/posts?columns=author_id,body,visibility",
                json: [["author_id": w.b.uuidString, "body": "m1", "visibility": "private"], ["author_id": w.b.uuidString, "body": "m2"]],
                headers: ["Prefer": "return=representation,missing=default"])
            #expect(many.status == .created)
            #expect(many.column("visibility").sorted() == ["private", "public"])
            let nulls = try await bob.send(
                .post, "/posts", json: [["author_id": w.b.uuidString, "body": "n1", "visibility": "private"], ["author_id": w.b.uuidString, "body": "n2"]])
            #expect(nulls.status == .badRequest)
            #expect(nulls.code == "23502")
        }
    }

    @Test("RLS refusals from the client's side: anon 401, a user writing as another 403, invisible rows untouched")
    func rlsRefusals() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, database: TestDatabase) async throws in
            let anon = try await rest.send(.post, "/posts", json: ["author_id": w.a.uuidString, "body": "anon"])
            #expect(anon.status == .unauthorized)
            #expect(anon.code == "42501")
            let bob = rest.callAs(try await RestTestClient.token(for: w.b))
            let forged = try await bob.send(.post, "/posts", json: ["author_id": w.a.uuidString, "body": "forged"])
            #expect(forged.status == .forbidden)
            #expect(forged.code == "42501")
            let patch = try await bob.send(.patch, "/profiles?id=eq.\(w.a)", json: ["display_name": "hacked"], headers: ["Prefer": "return=representation"])
            #expect(patch.status == .ok)
            #expect(patch.rows.isEmpty)
            let gone = try await bob.send(.delete, "/posts?id=eq.\(w.publicPost)", json: [String: Any]())
            #expect(gone.status == .noContent)
            let (name, posts) = try await database.withClient { client in
                var name: String?
                for try await value in try await client.query("SELECT coalesce(display_name, '') FROM public.profiles WHERE id = \(w.a)").decode(String.self) { name = value }
                var count = 0
                for try await value in try await client.query("SELECT count(*)::int FROM public.posts WHERE author_id = \(w.a)").decode(Int.self) { count = value }
                return (name, count)
            }
            #expect(name == "")
            #expect(posts == 3)
        }
    }

    @Test("update and delete need a filter, and answer what they changed")
    func updateDelete() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, _) async throws in
            let alice = rest.callAs(try await RestTestClient.token(for: w.a))
            let unfiltered = try await alice.send(.patch, "/posts", json: ["body": "everything"])
            #expect(unfiltered.status == .badRequest)
            #expect(unfiltered.code == "21000")
            #expect(try await alice.send(.delete, "/posts").code == "21000")
            let edited = try await alice.send(.patch, "/posts?id=eq.\(w.privatePost)&select=body", json: ["body": "edited"],
                                              headers: ["Prefer": "return=representation"])
            #expect(edited.column("body") == ["edited"])
            let column = try await alice.send(.patch, "/posts?id=eq.\(w.privatePost)", json: ["created_at": "2000-01-01T00:00:00Z"])
            #expect(column.status == .forbidden)
            let deleted = try await alice.send(.delete, "/posts?body=eq.edited", headers: ["Prefer": "return=representation"])
            #expect(deleted.column("body") == ["edited"])
            let unknown = try await alice.send(.patch, "/posts?id=eq.\(w.privatePost)", json: ["nope": 1])
            #expect(unknown.code == "PGRST204")
        }
    }

    @Test("upsert merges or ignores duplicates on the conflict columns")
    func upsert() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, _) async throws in
            let alice = rest.callAs(try await RestTestClient.token(for: w.a))
            // The conflict column is left out of the SET; the others must be updatable by the caller.
            let merged = try await alice.send(
                .post, "/profiles?on_conflict=id&select=username,display_name",
                json: ["id": w.a.uuidString, "username": "alice", "display_name": "Alice A."],
                headers: ["Prefer": "resolution=merge-duplicates,return=representation"])
            #expect(merged.status == .created)
            #expect(merged.column("display_name") == ["Alice A."])
            let notMine = try await alice.send(
                .post, "/posts?on_conflict=id", json: ["id": w.privatePost.uuidString, "author_id": w.a.uuidString, "body": "merged"],
                headers: ["Prefer": "resolution=merge-duplicates"])
            #expect(notMine.code == "42501")
            let ignored = try await alice.send(
                .post, "/posts", json: ["id": w.privatePost.uuidString, "author_id": w.a.uuidString, "body": "ignored"],
                headers: ["Prefer": "resolution=ignore-duplicates,return=representation"])
            #expect(ignored.rows.isEmpty)
            let duplicate = try await alice.send(.post, "/posts", json: ["id": w.privatePost.uuidString, "author_id": w.a.uuidString, "body": "dup"])
            #expect(duplicate.status == .conflict)
            #expect(duplicate.code == "23505")
        }
    }

    @Test("requests see request.method/path/headers, and anon/authenticated run under a statement timeout")
    func requestSettings() async throws {
        try await RestWorld.run(configure: { $0.statementTimeoutMilliseconds = 300 }) {
            (rest: RestTestClient, w: RestWorld, database: TestDatabase) async throws in
            let reloaded = try await createAndReload([
                "CREATE FUNCTION public.request_info() RETURNS text LANGUAGE sql STABLE AS $$SELECT current_setting('request.method') || ' ' || current_setting('request.path') || ' ' || (current_setting('request.headers')::json ->> 'x-probe')$$",
                "CREATE FUNCTION public.slow() RETURNS void LANGUAGE sql AS 'SELECT pg_sleep(2)'",
            ], in: database) { try await rest.get("/rpc/request_info").status == .ok }
            #expect(reloaded)
            let info = try await rest.get("/rpc/request_info", headers: ["X-Probe": "hello"])
            #expect(String(decoding: info.body, as: UTF8.self) == #""GET /rest/v1/rpc/request_info hello""#)
            let slow = try await rest.callAs(try await RestTestClient.token(for: w.a)).send(.post, "/rpc/slow")
            #expect(slow.status == .internalServerError)
            #expect(slow.code == "57014")
        }
    }

    @Test("rpc: scalar, set-returning with filters, void, GET for stable functions, and refusals")
    func rpc() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, database: TestDatabase) async throws in
            let reloaded = try await createAndReload([
                "CREATE FUNCTION public.add(a int, b int DEFAULT 1) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + b'",
                "CREATE FUNCTION public.posts_by(p_author uuid) RETURNS SETOF public.posts LANGUAGE sql STABLE AS 'SELECT * FROM public.posts WHERE author_id = p_author'",
                "CREATE FUNCTION public.touch() RETURNS void LANGUAGE sql AS 'SELECT'",
                "CREATE FUNCTION public.fail_with_teapot() RETURNS int LANGUAGE plpgsql AS $$BEGIN RAISE SQLSTATE 'PT418' USING MESSAGE = 'short and stout'; END$$",
            ], in: database) { try await rest.send(.post, "/rpc/touch").status == .noContent }
            #expect(reloaded, "the schema cache never picked up the new functions")
            let sum = try await rest.send(.post, "/rpc/add", json: ["a": 2, "b": 5])
            #expect(String(decoding: sum.body, as: UTF8.self) == "7")
            #expect(String(decoding: try await rest.send(.post, "/rpc/add", json: ["a": 2]).body, as: UTF8.self) == "3")
            #expect(String(decoding: try await rest.get("/rpc/add?a=40&b=2").body, as: UTF8.self) == "42")

            let bob = rest.callAs(try await RestTestClient.token(for: w.b))
            let rows = try await bob.send(.post, "/rpc/posts_by?select=body&order=body&body=neq.a-public", json: ["p_author": w.a.uuidString])
            #expect(rows.column("body") == ["a-followers"])
            let viaGET = try await bob.get("/rpc/posts_by?p_author=\(w.a)&select=body&order=body&limit=1")
            #expect(viaGET.column("body") == ["a-followers"])

            #expect(try await rest.send(.post, "/rpc/touch").status == .noContent)
            #expect(try await rest.get("/rpc/touch").status == .methodNotAllowed)
            let unknown = try await rest.send(.post, "/rpc/add", json: ["x": 1])
            #expect(unknown.status == .notFound)
            #expect(unknown.code == "PGRST202")
            #expect(try await rest.send(.post, "/rpc/nope", json: [String: Any]()).code == "PGRST202")
            let teapot = try await rest.send(.post, "/rpc/fail_with_teapot")
            #expect(teapot.status.code == 418)
            #expect(teapot.code == "PT418")
            let admin = try await bob.send(.post, "/rpc/admin_dashboard_stats")
            #expect(admin.status == .forbidden)
            #expect(admin.code == "42501")
            #expect(try await rest.send(.post, "/rpc/add", json: ["a": "not a number"]).status == .badRequest)
        }
    }
}
