import AppConfig
import Foundation
@testable import HTTPAPI
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// The OpenAPI documents state the rules the server enforces, and each rule they state is one the
/// database really holds (a value past the stated bound is refused, one within it is stored).
@Suite("OpenAPI documents")
struct OpenAPIDocumentTests {
    @Test("CHECK constraints in PostgreSQL's printed form become JSON Schema rules; anything else none")
    func checkTranslation() {
        func rules(_ check: String) -> [String: String] {
            Dictionary(OpenAPIColumnSchema.rules(fromCheck: check).map { ($0.0, "\($0.1)") }, uniquingKeysWith: { a, _ in a })
        }
        #expect(rules("CHECK (((char_length(body) >= 1) AND (char_length(body) <= 2000)))") == ["minLength": "1", "maxLength": "2000"])
        #expect(rules("CHECK ((like_count >= 0))") == ["minimum": "0"])
        #expect(rules("CHECK ((username ~ '^[A-Za-z0-9_]{3,30}$'::text))") == ["pattern": "^[A-Za-z0-9_]{3,30}$"])
        #expect(rules("CHECK ((body ~ '[^[:space:]]'::text)) NOT VALID") == ["pattern": #"[^\s]"#])
        #expect(rules("CHECK ((note ~ 'it''s'::text))") == ["pattern": "it's"])
        let kinds = OpenAPIColumnSchema.rules(fromCheck: "CHECK ((kind = ANY (ARRAY['place'::text, 'group'::text])))")
        #expect(kinds.first?.0 == "enum" && kinds.first?.1 as? [String] == ["place", "group"])
        // Half of an OR, a function the translator does not know, or a POSIX class without an ECMA
        // spelling would claim a rule the database does not have: nothing is stated.
        #expect(rules("CHECK (((char_length(bio) <= 10) OR (bio IS NULL)))").isEmpty)
        #expect(rules("CHECK (((char_length(bio) <= 10) AND (lower(bio) <> bio)))").isEmpty)
        #expect(rules("CHECK ((tag ~ '[[:punct:]]'::text))").isEmpty)
        #expect(OpenAPIColumnSchema.make(type: "character varying(12)")["maxLength"] as? Int == 12)
        #expect(OpenAPIColumnSchema.make(type: "integer")["maximum"] as? Int == Int(Int32.max))
    }

    @Test("the data API's document states the schema's CHECK rules, and the database holds each")
    func dataDocumentMatchesDatabase() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, _) async throws in
            let document = try await rest.get("/").object
            let schemas = (document["components"] as? [String: Any])?["schemas"] as? [String: Any] ?? [:]
            func property(_ table: String, _ column: String) -> [String: Any] {
                ((schemas[table] as? [String: Any])?["properties"] as? [String: Any])?[column] as? [String: Any] ?? [:]
            }
            let body = property("posts", "body")
            let maxLength = try #require(body["maxLength"] as? Int)
            #expect(body["minLength"] as? Int == 1)
            let pattern = try #require(body["pattern"] as? String)
            #expect(property("posts", "like_count")["minimum"] as? Int == 0)
            let kinds = try #require(property("entities", "kind")["enum"] as? [String])
            #expect(property("posts", "created_at")["format"] as? String == "date-time")
            #expect(property("posts", "id")["format"] as? String == "uuid")
            #expect(property("posts", "location")["pattern"] as? String != nil)

            // Each stated rule is the database's: just past it refused, at it stored.
            let alice = rest.callAs(try await RestTestClient.token(for: w.a))
            func post(_ text: String) async throws -> Int {
                try await alice.send(.post, "/posts", json: ["author_id": w.a.uuidString, "body": text]).status.code
            }
            #expect(try await post(String(repeating: "x", count: maxLength + 1)) == 400)
            #expect(try await post(String(repeating: "x", count: maxLength)) == 201)
            let blank = "  \n\t"
            #expect(blank.firstMatch(of: try Regex(pattern)) == nil)
            #expect(try await post(blank) == 400)
            for kind in kinds {
                let created = try await alice.send(.post, "/entities", json: ["kind": kind, "name": "a \(kind)", "created_by": w.a.uuidString])
                #expect(created.status == .created, "kind \(kind) is documented but refused")
            }
            #expect(try await alice.send(.post, "/entities", json: ["kind": "not-a-kind", "name": "x", "created_by": w.a.uuidString]).status == .badRequest)
        }
    }

    @Test("the auth document describes every /auth/v1 route the server has, with the configured password length")
    func authDocumentCoversRoutes() async throws {
        let database = try await TestDatabase.migrated()
        let app = try await TestApp.make(url: database.url) { $0.auth.passwordMinLength = 11 }
        let routes = buildRouter(app.dependencies).routes
            .map { "\($0.path)" }
            .filter { $0.hasPrefix("/auth/v1/") }
            .map { String($0.dropFirst("/auth/v1".count)).replacingOccurrences(of: ":id", with: "{id}") }
        #expect(Set(routes) == Set(AuthOpenAPIDocument.paths))
        let key = try await app.apiKey(.anon)
        try await app.application.test(.router) { client in
            try await client.execute(uri: "/auth/v1/openapi.json", method: .get, headers: [.init("apikey")!: key]) { response in
                #expect(response.status == .ok)
                let document = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] ?? [:]
                let paths = document["paths"] as? [String: Any] ?? [:]
                #expect(Set(paths.keys) == Set(AuthOpenAPIDocument.paths))
                let signup = ((((paths["/signup"] as? [String: Any])?["post"] as? [String: Any])?["requestBody"] as? [String: Any])?["content"]
                    as? [String: Any])?["application/json"] as? [String: Any]
                let password = ((signup?["schema"] as? [String: Any])?["properties"] as? [String: Any])?["password"] as? [String: Any]
                #expect(password?["minLength"] as? Int == 11)
            }
        }
    }
}
