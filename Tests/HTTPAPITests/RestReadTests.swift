import Foundation
import HTTPTypes
import Testing
import TestSupport

@Suite("Data API: reads")
struct RestReadTests {
    @Test("select, filters, order and RLS as each caller")
    func selectAndFilter() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, _) async throws in
            let anon = try await rest.get("/posts?select=body&order=body")
            #expect(anon.status == .ok)
            #expect(anon.column("body") == ["a-public", "b-public"])
            let bob = rest.callAs(try await RestTestClient.token(for: w.b))
            #expect(try await bob.get("/posts?select=body&author_id=eq.\(w.a)&order=body.desc").column("body") == ["a-public", "a-followers"])
            let alice = rest.callAs(try await RestTestClient.token(for: w.a))
            #expect(try await alice.get("/posts?select=body&visibility=in.(private,followers)&order=body").column("body")
                == ["a-followers", "a-private"])
            let carol = rest.callAs(try await RestTestClient.token(for: w.c))
            #expect(try await carol.get("/posts?select=body&author_id=eq.\(w.a)").column("body") == [])
            #expect(try await alice.get("/posts?select=body&or=(body.eq.a-private,body.like.b-*)&order=body").column("body")
                == ["a-private", "b-public"])
            #expect(try await alice.get("/posts?select=body&body=not.like.a-*").column("body") == ["b-public"])
            #expect(try await alice.get("/posts?select=body&body=ilike.*PRIV*").column("body") == ["a-private"])
            #expect(try await rest.get("/profiles?select=username,is_private&username=eq.alice").rows.count == 1)
            #expect(try await rest.get("/posts?select=body&location=is.null&order=body").column("body") == ["a-public", "b-public"])
        }
    }

    @Test("aliases, casts and embedding both ways with !inner and embedded filters")
    func embedding() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, _) async throws in
            let reply = try await rest.get("/posts?select=text:body,created:created_at::text,author:profiles(username),post_targets(target_entity_id)&id=eq.\(w.publicPost)")
            let row = try #require(reply.rows.first)
            #expect(row["text"] as? String == "a-public")
            #expect(row["created"] is String)
            #expect((row["author"] as? [String: Any])?["username"] as? String == "alice")
            let targets = row["post_targets"] as? [[String: Any]] ?? []
            #expect(targets.count == 2)

            let inner = try await rest.get("/posts?select=body,author:profiles!inner(username)&author.username=eq.bob")
            #expect(inner.column("body") == ["b-public"])
            let left = try await rest.get("/posts?select=body,author:profiles(username)&author.username=eq.bob&order=body")
            #expect(left.rows.count == 2)
            #expect(left.rows.first?["author"] is NSNull)

            let nested = try await rest.get("/profiles?select=username,posts(body)&username=eq.alice&posts.body=eq.a-public")
            #expect((nested.rows.first?["posts"] as? [[String: Any]])?.map { $0["body"] as? String } == ["a-public"])

            // follows has two foreign keys to profiles: ambiguous without a hint, answered as PostgREST does.
            let ambiguous = try await rest.get("/profiles?select=username,follows(*)")
            #expect(ambiguous.status.code == 300)
            #expect(ambiguous.code == "PGRST201")
            let followers = try await rest.get("/profiles?select=username,follows!followed_profile_id(follower_id)&username=eq.alice")
            #expect((followers.rows.first?["follows"] as? [[String: Any]])?.first?["follower_id"] as? String == w.b.uuidString.lowercased())
            let hinted = try await rest.get("/post_targets?select=post_id,profiles!target_profile_id(username)&target_profile_id=not.is.null")
            #expect((hinted.rows.first?["profiles"] as? [String: Any])?["username"] as? String == "bob")
        }
    }

    @Test("limit, offset, Range, counts in Content-Range, HEAD, and single objects")
    func paging() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, _) async throws in
            let alice = rest.callAs(try await RestTestClient.token(for: w.a))
            let page = try await alice.get("/posts?select=body&order=body&limit=2&offset=1", headers: ["Prefer": "count=exact"])
            #expect(page.column("body") == ["a-private", "a-public"])
            #expect(page["Content-Range"] == "1-2/4")
            let ranged = try await alice.get("/posts?select=body&order=body", headers: ["Range": "0-0"])
            #expect(ranged.column("body") == ["a-followers"])
            #expect(ranged["Content-Range"] == "0-0/*")
            let empty = try await alice.get("/posts?select=body&body=eq.none", headers: ["Prefer": "count=exact"])
            #expect(empty["Content-Range"] == "*/0")
            let head = try await alice.send(.head, "/posts?select=body", headers: ["Prefer": "count=exact"])
            #expect(head.status == .ok)
            #expect(head.body.isEmpty)
            #expect(head["Content-Range"] == "0-3/4")

            let single = try await alice.get("/posts?select=body&id=eq.\(w.privatePost)", headers: ["Accept": "application/vnd.pgrst.object+json"])
            #expect(single.object["body"] as? String == "a-private")
            let many = try await alice.get("/posts?select=body", headers: ["Accept": "application/vnd.pgrst.object+json"])
            #expect(many.status == .notAcceptable)
            #expect(many.code == "PGRST116")
            #expect(page["Server-Timing"]?.contains("total;dur=") == true)
        }
    }

    @Test("CSV output and planned/estimated counts")
    func csvAndCounts() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, _) async throws in
            let alice = rest.callAs(try await RestTestClient.token(for: w.a))
            let csv = try await alice.get("/posts?select=body,visibility,author:profiles(username)&order=body&limit=2", headers: ["Accept": "text/csv"])
            #expect(csv["Content-Type"]?.hasPrefix("text/csv") == true)
            #expect(String(decoding: csv.body, as: UTF8.self)
                == "body,visibility,author\na-followers,followers,\"{\"\"username\"\" : \"\"alice\"\"}\"\na-private,private,\"{\"\"username\"\" : \"\"alice\"\"}\"")
            let estimated = try await alice.get("/posts?select=body&limit=1", headers: ["Prefer": "count=estimated"])
            #expect(estimated["Content-Range"] == "0-0/4")
            let planned = try await alice.get("/posts?select=body&limit=1", headers: ["Prefer": "count=planned"])
            let total = planned["Content-Range"]?.split(separator: "/").last.flatMap { Int($0) }
            #expect(total != nil && total! > 0)
        }
    }

    @Test("the OpenAPI description lists tables and functions")
    func openAPI() async throws {
        try await RestWorld.run { (rest: RestTestClient, _, _) async throws in
            let document = try await rest.get("/").object
            #expect(document["openapi"] as? String == "3.0.3")
            let paths = document["paths"] as? [String: Any] ?? [:]
            #expect(paths["/posts"] != nil)
            #expect(paths["/rpc/admin_dashboard_stats"] != nil)
            #expect(paths["/users"] == nil)
        }
    }
}
