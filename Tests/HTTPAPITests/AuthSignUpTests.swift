import AppConfig
import Database
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Testing
import TestSupport

@Suite("Auth: sign-up and sign-in")
struct AuthSignUpTests {
    static let password = "correct horse battery"

    @Test("sign-up answers a full session and creates the profile in the same transaction")
    func signUpSession() async throws {
        try await TestApp.withAuth { (auth: AuthTestClient, _, database: TestDatabase) async throws in
            let reply = try await auth.signUp("Ada@Example.com", Self.password, data: ["username": "ada", "display_name": "Ada L"])
            #expect(reply.status == .ok)
            #expect(reply["token_type"] as? String == "bearer")
            #expect(reply["expires_in"] as? Int == 3600)
            #expect((reply["expires_at"] as? Int ?? 0) > Int(Date().timeIntervalSince1970))
            #expect((reply["refresh_token"] as? String)?.isEmpty == false)
            let user = reply["user"] as? [String: Any] ?? [:]
            #expect(user["email"] as? String == "Ada@Example.com")
            #expect(user["aud"] as? String == "authenticated")
            #expect((user["app_metadata"] as? [String: Any])?["provider"] as? String == "email")
            #expect((user["user_metadata"] as? [String: Any])?["username"] as? String == "ada")
            #expect((user["created_at"] as? String)?.hasSuffix("Z") == true)
            #expect(user["is_anonymous"] as? Bool == false)
            #expect(reply.headers[HTTPField.Name("X-Supabase-Api-Version")!] == "2024-01-01")

            let profile = try await database.withClient { client in
                var names: [String] = []
                for try await (name, display) in try await client.query(
                    "SELECT username, display_name FROM public.profiles"
                ).decode((String, String).self) {
                    names.append("\(name)|\(display)")
                }
                return names
            }
            #expect(profile == ["ada|Ada L"])
        }
    }

    @Test("usernames are derived and made unique")
    func uniqueUsernames() async throws {
        try await TestApp.withAuth { (auth: AuthTestClient, _, database: TestDatabase) async throws in
            #expect(try await auth.signUp("sam.smith@example.com", Self.password).status == .ok)
            #expect(try await auth.signUp("sam.smith@example.org", Self.password).status == .ok)
            #expect(try await auth.signUp("x@example.org", Self.password, data: ["username": "sam_smith"]).status == .ok)
            let names = try await database.withClient { client in
                var names: [String] = []
                for try await name in try await client.query("SELECT username FROM public.profiles ORDER BY created_at").decode(String.self) {
                    names.append(name)
                }
                return names
            }
            #expect(names.count == 3)
            #expect(names[0] == "sam_smith")
            #expect(Set(names).count == 3)
            #expect(names.allSatisfy { $0.hasPrefix("sam_smith") })
        }
    }

    @Test("every sign-up refusal has its GoTrue code")
    func signUpRefusals() async throws {
        try await TestApp.withAuth { (auth: AuthTestClient, _, _) async throws in
            #expect(try await auth.signUp("dup@example.com", Self.password).status == .ok)
            let duplicate = try await auth.signUp("DUP@example.com", "another good password")
            #expect(duplicate.status == .unprocessableContent)
            #expect(duplicate.code == "user_already_exists")

            let anonymous = try await auth.send(.post, "/signup", json: [String: Any]())
            #expect(anonymous.status == .unprocessableContent)
            #expect(anonymous.code == "anonymous_provider_disabled")

            let short = try await auth.signUp("a@example.com", "x7#Qz")
            #expect(short.status == .unprocessableContent)
            #expect(short.code == "weak_password")
            #expect((short["weak_password"] as? [String: Any])?["reasons"] as? [String] == ["length"])

            let common = try await auth.signUp("b@example.com", "password1")
            #expect(common.code == "weak_password")
            #expect((common["weak_password"] as? [String: Any])?["reasons"] as? [String] == ["pwned"])
            #expect(common["msg"] as? String == common["message"] as? String)

            let badEmail = try await auth.signUp("not-an-email", Self.password)
            #expect(badEmail.status == .badRequest)
            #expect(badEmail.code == "email_address_invalid")

            let huge = try await auth.signUp("c@example.com", String(repeating: "p", count: 10_240))
            #expect(huge.status == .badRequest)
            #expect(huge.code == "validation_failed")

            // Found by the fuzzer: jsonb cannot hold U+0000, and text no control characters in an
            // address; both were a 500 from PostgreSQL. Now they are the client's 400s.
            let nul = try await auth.signUp("d@example.com", Self.password, data: ["nested": ["k\u{0}": "v\u{0}"]])
            #expect(nul.status == .badRequest)
            #expect(nul.code == "validation_failed")
            let control = try await auth.signUp("e\u{0}f@example.com", Self.password)
            #expect(control.status == .badRequest)
            #expect(control.code == "email_address_invalid")
        }
    }

    @Test("required character classes are enforced when configured")
    func characterClasses() async throws {
        try await TestApp.withAuth(configure: { $0.auth.passwordRequiredCharacters = [.lower, .upper, .digit] }) {
            (auth: AuthTestClient, _, _) async throws in
            let weak = try await auth.signUp("d@example.com", "only lowercase words")
            #expect(weak.code == "weak_password")
            #expect((weak["weak_password"] as? [String: Any])?["reasons"] as? [String] == ["characters"])
            #expect(try await auth.signUp("e@example.com", "Mixed Case 42 words").status == .ok)
        }
    }

    @Test("sign-ups can be switched off")
    func signUpsDisabled() async throws {
        try await TestApp.withAuth(configure: { $0.auth.signupsDisabled = true }) { (auth: AuthTestClient, _, _) async throws in
            let reply = try await auth.signUp("f@example.com", Self.password)
            #expect(reply.status == .unprocessableContent)
            #expect(reply.code == "signup_disabled")
        }
    }

    @Test("malformed bodies are 400 validation_failed, oversized ones 413, and nothing is written")
    func badBodies() async throws {
        try await TestApp.withAuth { (auth: AuthTestClient, _, database: TestDatabase) async throws in
            let broken = try await auth.send(.post, "/signup", rawBody: Data(#"{"email": "g@example.com", "password": "#.utf8))
            #expect(broken.status == .badRequest)
            #expect(broken.code == "validation_failed")
            let wrongType = try await auth.send(.post, "/signup", json: ["email": ["g@example.com"], "password": Self.password])
            #expect(wrongType.status == .badRequest)
            #expect(wrongType.code == "validation_failed")
            let notObject = try await auth.send(.post, "/signup", json: ["email": "g@example.com", "password": Self.password, "data": [1, 2]])
            #expect(notObject.status == .badRequest)
            let megabyte = try await auth.send(.post, "/signup", rawBody: Data(repeating: 0x20, count: 1_048_576))
            #expect(megabyte.status == .contentTooLarge)
            #expect(megabyte.headers[.contentType]?.hasPrefix("application/json") == true)
            let users = try await database.withClient { client in
                var count = -1
                for try await value in try await client.query("SELECT count(*)::int FROM auth.users").decode(Int.self) { count = value }
                return count
            }
            #expect(users == 0)
        }
    }

    @Test("password sign-in: right password, wrong password, unknown email, unsupported grant")
    func passwordGrant() async throws {
        try await TestApp.withAuth { (auth: AuthTestClient, _, _) async throws in
            #expect(try await auth.signUp("h@example.com", Self.password).status == .ok)
            let ok = try await auth.signIn("H@EXAMPLE.COM", Self.password)
            #expect(ok.status == .ok)
            #expect((ok["user"] as? [String: Any])?["last_sign_in_at"] is String)

            let wrong = try await auth.signIn("h@example.com", "not the password")
            #expect(wrong.status == .badRequest)
            #expect(wrong.code == "invalid_credentials")
            let unknown = try await auth.signIn("nobody@example.com", "not the password")
            #expect(unknown.status == .badRequest)
            #expect(unknown.code == "invalid_credentials")
            #expect(unknown.body == wrong.body)

            let missing = try await auth.send(.post, "/token?grant_type=password", json: ["email": "h@example.com"])
            #expect(missing.status == .badRequest)
            #expect(missing.code == "validation_failed")
            let grant = try await auth.send(.post, "/token?grant_type=magic", json: [String: Any]())
            #expect(grant.status == .badRequest)
            #expect(grant.code == "validation_failed")
        }
    }

    @Test("with email confirmation on, sign-up answers the bare user and sign-in is refused")
    func emailConfirmation() async throws {
        try await TestApp.withAuth(configure: { $0.auth.emailConfirmationRequired = true }) { (auth: AuthTestClient, _, _) async throws in
            let reply = try await auth.signUp("i@example.com", Self.password)
            #expect(reply.status == .ok)
            #expect(reply["access_token"] == nil)
            #expect(reply["email"] as? String == "i@example.com")
            #expect(reply["email_confirmed_at"] == nil)
            let signIn = try await auth.signIn("i@example.com", Self.password)
            #expect(signIn.status == .badRequest)
            #expect(signIn.code == "email_not_confirmed")
        }
    }

    @Test("repeated failed sign-ins are throttled per account, without revealing whether it exists")
    func failedSignInThrottle() async throws {
        try await TestApp.withAuth(configure: { $0.auth.failedSignInLimit = 3 }) { (auth: AuthTestClient, _, _) async throws in
            #expect(try await auth.signUp("j@example.com", Self.password).status == .ok)
            for email in ["j@example.com", "ghost@example.com"] {
                for _ in 0..<3 { #expect(try await auth.signIn(email, "wrong password!").code == "invalid_credentials") }
                let limited = try await auth.signIn(email, email == "j@example.com" ? Self.password : "wrong password!")
                #expect(limited.status == .tooManyRequests)
                #expect(limited.code == "over_request_rate_limit")
            }
        }
    }

    @Test("per-IP limit on /auth/v1 with RateLimit headers and Retry-After")
    func perIPLimit() async throws {
        try await TestApp.withAuth(configure: { $0.rateLimits.authPerMinute = 5 }) { (auth: AuthTestClient, _, _) async throws in
            for remaining in (0..<5).reversed() {
                let reply = try await auth.send(.get, "/settings")
                #expect(reply.status == .ok)
                #expect(reply.headers[HTTPField.Name("RateLimit")!] == "\"auth\";r=\(remaining);t=60")
                #expect(reply.headers[HTTPField.Name("RateLimit-Policy")!] == "\"auth\";q=5;w=60")
                #expect(reply.headers[HTTPField.Name("X-RateLimit-Remaining")!] == "\(remaining)")
            }
            let limited = try await auth.send(.get, "/settings")
            #expect(limited.status == .tooManyRequests)
            #expect(limited.code == "over_request_rate_limit")
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 >= 1)
        }
    }

    @Test("the apikey is required and must be ours; settings and health answer")
    func apiKeyAndSettings() async throws {
        try await TestApp.withAuth { (auth: AuthTestClient, _, _) async throws in
            let settings = try await auth.send(.get, "/settings")
            #expect(settings.status == .ok)
            #expect(settings["disable_signup"] as? Bool == false)
            #expect((settings["external"] as? [String: Any])?["email"] as? Bool == true)
            #expect(try await auth.send(.get, "/health", apiKey: "").status == .ok)

            let missing = try await auth.client.execute(uri: "/auth/v1/settings", method: .get) { $0.status }
            #expect(missing == .unauthorized)
            let forged = try await auth.send(.get, "/settings", apiKey: "eyJhbGciOiJub25lIn0.eyJyb2xlIjoiYW5vbiJ9.")
            #expect(forged.status == .unauthorized)
            #expect(forged.code == "invalid_api_key")
        }
    }
}
