@testable import HTTPAPI
import Auth
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Testing

@Suite("The bearer JWT decides the database role of /rest/v1 requests")
struct CallerMiddlewareTests {
    /// A router with the middleware in front of a route that reports the caller it was given.
    static func makeApp() async -> Application<RouterResponder<AppRequestContext>> {
        let router = Router(context: AppRequestContext.self)
        router.add(middleware: ErrorMiddleware(errors: nil))
        router.group("/rest/v1")
            .add(middleware: CallerMiddleware(callers: CallerResolver(verifier: await JWTVerifier(secret: TestApp.secret))))
            .get("/whoami") { _, context in "\(context.caller.role.rawValue) \(context.caller.userID?.uuidString.lowercased() ?? "-")" }
        return Application(router: router)
    }

    static func sign(_ claims: TestClaims, secret: String = TestApp.secret) async throws -> String {
        try await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256).sign(claims)
    }

    func whoami(_ client: some TestClientProtocol, bearer: String?) async throws -> (HTTPResponse.Status, String) {
        var headers: HTTPFields = [:]
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        return try await client.execute(uri: "/rest/v1/whoami", method: .get, headers: headers) {
            ($0.status, String(buffer: $0.body))
        }
    }

    @Test("valid tokens set the role; no token is anon")
    func roles() async throws {
        let user = UUID()
        let token = try await Self.sign(TestClaims(sub: user.uuidString.lowercased(), exp: Int(Date().timeIntervalSince1970) + 60))
        try await Self.makeApp().test(.router) { client in
            let anonymous = try await whoami(client, bearer: nil)
            #expect(anonymous.0 == .ok && anonymous.1 == "anon -")
            let signedIn = try await whoami(client, bearer: token)
            #expect(signedIn.0 == .ok && signedIn.1 == "authenticated \(user.uuidString.lowercased())")
        }
    }

    @Test("bad tokens are 401 PGRST301 in PostgREST's shape")
    func refusals() async throws {
        let now = Int(Date().timeIntervalSince1970)
        let expired = try await Self.sign(TestClaims(sub: UUID().uuidString, exp: now - 10))
        let foreign = try await Self.sign(TestClaims(sub: UUID().uuidString, exp: now + 60), secret: "x-another-secret-another-secret-another")
        var wrongAudience = TestClaims(sub: UUID().uuidString, exp: now + 60)
        wrongAudience.aud = "someone-else"
        let otherAudience = try await Self.sign(wrongAudience)
        var superuser = TestClaims(sub: UUID().uuidString, exp: now + 60)
        superuser.role = "postgres"
        let escalation = try await Self.sign(superuser)
        try await Self.makeApp().test(.router) { client in
            for token in [expired, foreign, otherAudience, escalation, "garbage"] {
                try await client.execute(uri: "/rest/v1/whoami", method: .get, headers: [.authorization: "Bearer \(token)"]) { response in
                    #expect(response.status == .unauthorized)
                    let body = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any] ?? [:]
                    #expect(body["code"] as? String == "PGRST301")
                    #expect(body.keys.sorted() == ["code", "details", "hint", "message"])
                }
            }
        }
    }
}
