import Foundation
import HTTPTypes
import PostgresNIO
import Testing
import TestSupport

/// Hostile input in every position gets a clear 4xx in PostgREST's shape — never a 500 — and
/// leaves the database exactly as it was.
@Suite("Data API: adversarial input")
struct RestAdversarialTests {
    static let injection = "\"; DROP TABLE public.posts; --"
    static let encoded = injection.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!

    static func fingerprint(_ database: TestDatabase) async throws -> String {
        try await database.withClient { client in
            var result = ""
            for try await value in try await client.query(
                """
                SELECT (SELECT count(*) FROM public.posts)::text || '/' || (SELECT count(*) FROM public.profiles)::text || '/' ||
                       (SELECT string_agg(body, ',' ORDER BY body) FROM public.posts) || '/' ||
                       (SELECT count(*) FROM pg_tables WHERE schemaname = 'public')::text
                """
            ).decode(String.self) { result = value }
            return result
        }
    }

    @Test("injection attempts and malformed requests in every position")
    func hostileRequests() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, database: TestDatabase) async throws in
            let before = try await Self.fingerprint(database)
            let alice = rest.callAs(try await RestTestClient.token(for: w.a))
            let i = Self.encoded
            let deep = String(repeating: "and(", count: 30) + "body.eq.x" + String(repeating: ")", count: 30)
            let hugeList = (0..<10_000).map { _ in UUID().uuidString }.joined(separator: ",")
            let requests: [(HTTPRequest.Method, String, String?, [String: String], Int)] = [
                (.get, "/posts?select=\(i)", nil, [:], 400),
                (.get, "/posts?\(i)=eq.1", nil, [:], 400),
                (.get, "/posts?body=\(i).1", nil, [:], 400),
                (.get, "/posts?body=eq.\(i)", nil, [:], 200),
                (.get, "/posts?order=\(i)", nil, [:], 400),
                (.get, "/posts?select=body::\(i)", nil, [:], 400),
                (.get, "/posts?select=author:\(i)(*)", nil, [:], 400),
                (.get, "/\(i)", nil, [:], 404),
                (.get, "/posts", nil, ["Accept-Profile": Self.injection], 406),
                (.post, "/rpc/\(i)", "{}", [:], 404),
                (.post, "/posts?on_conflict=\(i)", #"{"body":"x"}"#, ["Prefer": "resolution=merge-duplicates"], 400),
                (.post, "/posts?columns=\(i)", #"{"body":"x"}"#, [:], 400),
                (.post, "/posts", #"{"\#(Self.injection)":"x"}"#, [:], 400),
                (.get, "/posts?or=(\(deep))", nil, [:], 400),
                (.get, "/posts?id=in.(\(hugeList))&select=id", nil, [:], 200),
                (.get, "/posts?limit=99999999999999999999999", nil, [:], 400),
                (.get, "/posts?limit=-1", nil, [:], 400),
                (.get, "/posts?limit=1000000000&select=id", nil, [:], 200),
                (.get, "/nope", nil, [:], 404),
                (.get, "/posts?nope=eq.1", nil, [:], 400),
                (.get, "/posts?select=*,nope(*)", nil, [:], 400),
                (.post, "/rpc/admin_delete_post", #"{"nope": 1}"#, [:], 404),
                (.get, "/posts?id=eq.not-a-uuid", nil, [:], 400),
                (.get, "/posts?created_at=gt.yesterday-ish", nil, [:], 400),
                (.post, "/posts", #"{"body": "#, [:], 400),
                (.post, "/posts", "[1, 2, 3]", [:], 400),
                (.post, "/posts", #"{"author_id": "\#(w.a)", "body": ""}"#, [:], 400),
                (.patch, "/posts?id=eq.\(w.publicPost)", "null", [:], 400),
                (.get, "/posts", nil, ["Range": "9-1"], 416),
                (.get, "/posts?select=body&body=fts(\(i)).x", nil, [:], 400),
                (.get, "/posts?visibility=is.\(i)", nil, [:], 400),
            ]
            for (method, path, body, headers, expected) in requests {
                let reply = try await alice.send(method, path, raw: body, headers: headers)
                #expect(Int(reply.status.code) == expected, "\(method) \(path.prefix(120)) → \(reply.status.code) \(String(decoding: reply.body.prefix(200), as: UTF8.self))")
                if expected >= 400 {
                    #expect(reply.code != nil, "\(path.prefix(80)) has no string code")
                    #expect(reply.object.keys.sorted() == ["code", "details", "hint", "message"])
                }
            }
            #expect(try await Self.fingerprint(database) == before)
        }
    }

    @Test("a bad JWT is 401 PGRST301, never anon")
    func badJWT() async throws {
        try await RestWorld.run { (rest: RestTestClient, _, _) async throws in
            let reply = try await rest.callAs("not.a.jwt").get("/posts")
            #expect(reply.status == .unauthorized)
            #expect(reply.code == "PGRST301")
        }
    }
}
