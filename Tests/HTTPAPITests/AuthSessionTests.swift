import AppConfig
import Database
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import PostgresNIO
import Testing
import TestSupport

@Suite("Auth: sessions, the user's account, and the admin API")
struct AuthSessionTests {
    static let password = "correct horse battery"

    func session(_ auth: AuthTestClient, _ email: String) async throws -> (access: String, refresh: String) {
        let reply = try await auth.signUp(email, Self.password)
        #expect(reply.status == .ok)
        return (reply["access_token"] as? String ?? "", reply["refresh_token"] as? String ?? "")
    }

    @Test("the access token carries the claims the clients read")
    func accessTokenClaims() async throws {
        try await TestApp.withAuth { (auth: AuthTestClient, app: TestApp, _) async throws in
            let (access, _) = try await session(auth, "claims@example.com")
            let payload = access.split(separator: ".")[1]
            var base64 = payload.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
            let claims = try JSONSerialization.jsonObject(with: Data(base64Encoded: base64)!) as? [String: Any] ?? [:]
            #expect(claims["aud"] as? String == "authenticated")
            #expect(claims["role"] as? String == "authenticated")
            #expect(claims["aal"] as? String == "aal1")
            #expect(claims["email"] as? String == "claims@example.com")
            #expect(claims["phone"] as? String == "")
            #expect(claims["is_anonymous"] as? Bool == false)
            #expect(claims["session_id"] is String)
            #expect((claims["iss"] as? String)?.hasSuffix("/auth/v1") == true)
            #expect(UUID(uuidString: claims["sub"] as? String ?? "") != nil)
            #expect((claims["exp"] as? Int ?? 0) - (claims["iat"] as? Int ?? 0) == 3600)
            #expect(((claims["amr"] as? [[String: Any]])?.first?["method"] as? String) == "password")
            #expect(claims["app_metadata"] is [String: Any])
        }
    }

    @Test("refresh rotates; a reuse within the window gets the same successor")
    func rotation() async throws {
        try await TestApp.withAuth { (auth: AuthTestClient, _, _) async throws in
            let (_, first) = try await session(auth, "rotate@example.com")
            let second = try await auth.refresh(first)
            #expect(second.status == .ok)
            let successor = second["refresh_token"] as? String
            #expect(successor != nil && successor != first)
            let again = try await auth.refresh(first)
            #expect(again.status == .ok)
            #expect(again["refresh_token"] as? String == successor)
            let third = try await auth.refresh(successor!)
            #expect(third.status == .ok)
            #expect(try await auth.send(.get, "/user", bearer: third["access_token"] as? String).status == .ok)
            let unknown = try await auth.refresh("no-such-token")
            #expect(unknown.status == .badRequest)
            #expect(unknown.code == "refresh_token_not_found")
        }
    }

    @Test("a reuse after the window revokes the whole session")
    func reuseRevokes() async throws {
        try await TestApp.withAuth(configure: { $0.auth.refreshTokenReuseInterval = 0 }) { (auth: AuthTestClient, _, _) async throws in
            let (access, first) = try await session(auth, "stolen@example.com")
            let rotated = try await auth.refresh(first)
            #expect(rotated.status == .ok)
            try await Task.sleep(for: .milliseconds(1100))
            let reuse = try await auth.refresh(first)
            #expect(reuse.status == .badRequest)
            #expect(reuse.code == "refresh_token_already_used")
            let successor = try await auth.refresh(rotated["refresh_token"] as? String ?? "")
            #expect(successor.code == "refresh_token_not_found")
            let user = try await auth.send(.get, "/user", bearer: access)
            #expect(user.status == .forbidden)
            #expect(user.code == "session_not_found")
        }
    }

    @Test("GET /user refuses missing, foreign, unsigned and expired tokens")
    func userTokens() async throws {
        try await TestApp.withAuth { (auth: AuthTestClient, app: TestApp, _) async throws in
            let (access, _) = try await session(auth, "me@example.com")
            let me = try await auth.send(.get, "/user", bearer: access)
            #expect(me.status == .ok)
            #expect(me["email"] as? String == "me@example.com")

            let none = try await auth.client.execute(
                uri: "/auth/v1/user", method: .get, headers: [HTTPField.Name("apikey")!: auth.apiKey]) { $0 }
            #expect(none.status == .unauthorized)

            // The anon key is a valid JWT but not a user's access token.
            #expect(try await auth.send(.get, "/user").code == "bad_jwt")

            let keys = await JWTKeyCollection().add(hmac: HMACKey(from: "another-secret-another-secret-another-1"), digestAlgorithm: .sha256)
            let foreign = try await keys.sign(TestClaims(sub: UUID().uuidString, exp: Int(Date().timeIntervalSince1970) + 60))
            let foreignReply = try await auth.send(.get, "/user", bearer: foreign)
            #expect(foreignReply.status == .unauthorized)
            #expect(foreignReply.code == "bad_jwt")

            let parts = access.split(separator: ".")
            let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.\(parts[1])."
            #expect(try await auth.send(.get, "/user", bearer: unsigned).code == "bad_jwt")

            let ourKeys = await JWTKeyCollection().add(hmac: HMACKey(from: TestApp.secret), digestAlgorithm: .sha256)
            let expired = try await ourKeys.sign(TestClaims(sub: UUID().uuidString, exp: Int(Date().timeIntervalSince1970) - 60))
            #expect(try await auth.send(.get, "/user", bearer: expired).code == "bad_jwt")
        }
    }

    @Test("PUT /user: metadata merges, password and email change, with their refusals")
    func updateUser() async throws {
        try await TestApp.withAuth { (auth: AuthTestClient, _, _) async throws in
            let (access, _) = try await session(auth, "change@example.com")
            _ = try await session(auth, "taken@example.com")
            let first = try await auth.send(.put, "/user", json: ["data": ["theme": "dark", "lang": "en"]], bearer: access)
            #expect(first.status == .ok)
            let second = try await auth.send(.put, "/user", json: ["data": ["lang": NSNull(), "tz": "UTC"]], bearer: access)
            #expect(second["user_metadata"] as? [String: String] == ["theme": "dark", "tz": "UTC"])

            let same = try await auth.send(.put, "/user", json: ["password": Self.password], bearer: access)
            #expect(same.status == .unprocessableContent)
            #expect(same.code == "same_password")
            let weak = try await auth.send(.put, "/user", json: ["password": "qwerty123"], bearer: access)
            #expect(weak.code == "weak_password")
            #expect(try await auth.send(.put, "/user", json: ["password": "a brand new passphrase"], bearer: access).status == .ok)
            #expect(try await auth.signIn("change@example.com", Self.password).code == "invalid_credentials")
            #expect(try await auth.signIn("change@example.com", "a brand new passphrase").status == .ok)

            let taken = try await auth.send(.put, "/user", json: ["email": "TAKEN@example.com"], bearer: access)
            #expect(taken.status == .unprocessableContent)
            #expect(taken.code == "email_exists")
            let moved = try await auth.send(.put, "/user", json: ["email": "moved@example.com"], bearer: access)
            #expect(moved["email"] as? String == "moved@example.com")
        }
    }

    @Test("logout scopes end the right sessions and their refresh tokens")
    func logout() async throws {
        try await TestApp.withAuth { (auth: AuthTestClient, _, _) async throws in
            _ = try await session(auth, "out@example.com")
            let a = try await auth.signIn("out@example.com", Self.password)
            let b = try await auth.signIn("out@example.com", Self.password)
            let c = try await auth.signIn("out@example.com", Self.password)
            let token = { (reply: AuthTestClient.Reply) in reply["access_token"] as? String ?? "" }

            #expect(try await auth.send(.post, "/logout?scope=local", bearer: token(a)).status == .noContent)
            #expect(try await auth.send(.get, "/user", bearer: token(a)).code == "session_not_found")
            #expect(try await auth.refresh(a["refresh_token"] as? String ?? "").code == "refresh_token_not_found")
            #expect(try await auth.send(.get, "/user", bearer: token(b)).status == .ok)

            #expect(try await auth.send(.post, "/logout?scope=others", bearer: token(b)).status == .noContent)
            #expect(try await auth.send(.get, "/user", bearer: token(c)).code == "session_not_found")
            #expect(try await auth.send(.get, "/user", bearer: token(b)).status == .ok)

            #expect(try await auth.send(.post, "/logout?scope=everywhere", bearer: token(b)).status == .badRequest)
            #expect(try await auth.send(.post, "/logout", bearer: token(b)).status == .noContent)
            #expect(try await auth.send(.get, "/user", bearer: token(b)).code == "session_not_found")
        }
    }

    @Test("the admin API: service role only; list, create, read, update (ban, admin role), delete")
    func admin() async throws {
        try await TestApp.withAuth { (auth: AuthTestClient, app: TestApp, database: TestDatabase) async throws in
            let service = try await app.apiKey(.serviceRole)
            let (userAccess, _) = try await session(auth, "member@example.com")
            #expect(try await auth.send(.get, "/admin/users").code == "not_admin")
            #expect(try await auth.send(.get, "/admin/users", bearer: userAccess).code == "not_admin")

            let created = try await auth.send(
                .post, "/admin/users",
                json: ["email": "staff@example.com", "password": "staff pass phrase", "email_confirm": true,
                       "app_metadata": ["role": "admin"]], bearer: service)
            #expect(created.status == .ok)
            let staffID = created["id"] as? String ?? ""
            #expect(created["email_confirmed_at"] is String)
            #expect((created["app_metadata"] as? [String: Any])?["role"] as? String == "admin")
            #expect(try await auth.send(.post, "/admin/users", json: ["email": "STAFF@example.com"], bearer: service).code == "email_exists")

            for index in 0..<3 { _ = try await session(auth, "bulk\(index)@example.com") }
            let page = try await auth.send(.get, "/admin/users?page=2&per_page=2", bearer: service)
            #expect(page.status == .ok)
            #expect(page.headers[HTTPField.Name("X-Total-Count")!] == "5")
            #expect((page["users"] as? [[String: Any]])?.count == 2)
            #expect(page["aud"] as? String == "authenticated")
            #expect(page.headers[HTTPField.Name("Link")!]?.contains("rel=\"next\"") == true)
            // A page whose offset would overflow is refused, not a crash of the server.
            let far = try await auth.send(.get, "/admin/users?page=\(Int.max)&per_page=1000", bearer: service)
            #expect(far.status == .badRequest)
            #expect(far.code == "validation_failed")

            // An admin role in app_metadata makes is_admin() true for that user's requests.
            let staff = try await auth.signIn("staff@example.com", "staff pass phrase")
            let staffToken = staff["access_token"] as? String ?? ""
            let sub = UUID(uuidString: staffID)!
            let isAdmin = try await database.withClient { client in
                try await client.withCaller(
                    Caller(role: .authenticated, claimsJSON: #"{"sub":"\#(staffID)","role":"authenticated"}"#, userID: sub),
                    logger: database.logger
                ) { try await $0.strings("SELECT public.is_admin()::text", logger: database.logger) }
            }
            #expect(isAdmin == ["true"])

            let fetched = try await auth.send(.get, "/admin/users/\(staffID)", bearer: service)
            #expect(fetched["email"] as? String == "staff@example.com")
            let banned = try await auth.send(.put, "/admin/users/\(staffID)", json: ["ban_duration": "24h"], bearer: service)
            #expect(banned["banned_until"] is String)
            #expect(try await auth.signIn("staff@example.com", "staff pass phrase").code == "user_banned")
            #expect(try await auth.refresh(staff["refresh_token"] as? String ?? "").status == .badRequest)
            #expect(try await auth.send(.get, "/user", bearer: staffToken).code == "session_not_found")
            #expect(try await auth.send(.put, "/admin/users/\(staffID)", json: ["ban_duration": "soon"], bearer: service).status == .badRequest)
            let unbanned = try await auth.send(.put, "/admin/users/\(staffID)", json: ["ban_duration": "none"], bearer: service)
            #expect(unbanned["banned_until"] == nil)
            #expect(try await auth.signIn("staff@example.com", "staff pass phrase").status == .ok)

            #expect(try await auth.send(.delete, "/admin/users/\(staffID)", json: [String: Any](), bearer: service).status == .ok)
            #expect(try await auth.send(.get, "/admin/users/\(staffID)", bearer: service).status == .notFound)
            #expect(try await auth.send(.delete, "/admin/users/\(staffID)", bearer: service).code == "user_not_found")
            #expect(try await auth.send(.get, "/admin/users/not-a-uuid", bearer: service).status == .notFound)
        }
    }
}

struct TestClaims: JWTPayload {
    var sub: String
    var exp: Int
    var aud: String? = "authenticated"
    var role = "authenticated"
    // No session: a token an operator signs with the secret. The server checks the user instead (exists, not banned).
    var session_id: String? = nil
    func verify(using algorithm: some JWTAlgorithm) throws {}
}
