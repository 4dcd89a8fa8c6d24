import AppConfig
import HTTPAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import PostgresNIO
import TestSupport

/// Talks to `/rest/v1` as supabase-js/-py do: `apikey`, a bearer token, JSON.
struct RestTestClient {
    struct Reply {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let body: Data
        var json: Any? { try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) }
        var rows: [[String: Any]] { json as? [[String: Any]] ?? [] }
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        var code: String? { object["code"] as? String }
        func column(_ name: String) -> [String] { rows.map { "\($0[name] ?? "nil")" } }
        subscript(header: String) -> String? { headers[HTTPField.Name(header)!] }
    }

    let client: any TestClientProtocol
    let apiKey: String
    var bearer: String?

    func callAs(_ token: String?) -> RestTestClient { RestTestClient(client: client, apiKey: apiKey, bearer: token) }

    func send(_ method: HTTPRequest.Method, _ path: String, json: Any? = nil, raw: String? = nil, headers extra: [String: String] = [:])
        async throws -> Reply
    {
        var headers: HTTPFields = [HTTPField.Name("apikey")!: apiKey, .contentType: "application/json"]
        headers[.authorization] = "Bearer \(bearer ?? apiKey)"
        for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
        let body = try raw.map { Data($0.utf8) } ?? json.map { try JSONSerialization.data(withJSONObject: $0) }
        return try await client.execute(uri: "/rest/v1" + path, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) }) {
            Reply(status: $0.status, headers: $0.headers, body: Data($0.body.readableBytesView))
        }
    }

    func get(_ path: String, headers: [String: String] = [:]) async throws -> Reply { try await send(.get, path, headers: headers) }

    /// An access token for `user`, signed with the test secret.
    static func token(for user: UUID) async throws -> String {
        try await sign(TestClaims(sub: user.uuidString.lowercased(), exp: Int(Date().timeIntervalSince1970) + 600))
    }

    /// A `service_role` key signed with the test secret.
    static func serviceKey() async throws -> String {
        try await sign(TestClaims(sub: "service", exp: Int(Date().timeIntervalSince1970) + 600, aud: nil, role: "service_role"))
    }

    static func sign(_ claims: TestClaims) async throws -> String {
        let keys = await JWTKeyCollection().add(hmac: HMACKey(from: TestApp.secret), digestAlgorithm: .sha256)
        return try await keys.sign(claims)
    }
}

/// Creates SQL objects as the owner and waits until the app's schema cache has them (it reloads on
/// NOTIFY, and its listener may still be connecting, so the NOTIFY is repeated until `ready` says so).
func createAndReload(
    _ statements: [String], in database: TestDatabase, until ready: () async throws -> Bool
) async throws -> Bool {
    try await database.withClient { client in
        for statement in statements { try await client.query(PostgresQuery(unsafeSQL: statement)) }
    }
    for _ in 0..<100 {
        try await database.withClient { try await $0.query("NOTIFY feedfusion, 'reload schema'") }
        try await Task.sleep(for: .milliseconds(100))
        if try await ready() { return true }
    }
    return false
}

/// A database with a small social world and the app over it.
struct RestWorld {
    let a, b, c: UUID
    let publicPost, followersPost, privatePost: UUID
    let place: UUID

    static func make(_ client: PostgresClient) async throws -> RestWorld {
        let a = try await Fixtures.createUser(client, username: "alice")
        let b = try await Fixtures.createUser(client, username: "bob")
        let c = try await Fixtures.createUser(client, username: "carol")
        try await Fixtures.follow(client, follower: b, followed: a)
        try await Fixtures.block(client, blocker: a, blocked: c)
        let place = UUID()
        try await client.query("INSERT INTO public.entities (id, kind, name) VALUES (\(place), 'place', 'Central Park')")
        let world = RestWorld(
            a: a, b: b, c: c,
            publicPost: try await Fixtures.createPost(client, author: a, body: "a-public"),
            followersPost: try await Fixtures.createPost(client, author: a, body: "a-followers", visibility: "followers"),
            privatePost: try await Fixtures.createPost(client, author: a, body: "a-private", visibility: "private"),
            place: place)
        try await client.query("INSERT INTO public.post_targets (post_id, target_entity_id) VALUES (\(world.publicPost), \(place))")
        try await client.query("INSERT INTO public.post_targets (post_id, target_profile_id) VALUES (\(world.publicPost), \(b))")
        _ = try await Fixtures.createPost(client, author: b, body: "b-public")
        return world
    }

    /// Runs `body` with the app (router mode) over a fresh database holding the world.
    static func run(
        mode: TestingSetup = .router,
        configure: (inout Settings) -> Void = { _ in },
        adjust: (inout AppDependencies) -> Void = { _ in },
        _ body: @Sendable (RestTestClient, RestWorld, TestDatabase) async throws -> Void
    ) async throws {
        let database = try await TestDatabase.migrated()
        let world = try await database.withClient { try await RestWorld.make($0) }
        let app = try await TestApp.make(url: database.url, configure: configure, adjust: adjust)
        let key = try await app.apiKey(.anon)
        try await app.application.test(mode) { client in
            try await body(RestTestClient(client: client, apiKey: key), world, database)
        }
    }
}
