import Auth
import Database
import Foundation
import JWTKit
import Testing
import TestSupport

@Suite("Turning request credentials into a caller")
struct CallerResolverTests {
    static let secret = "test-secret-test-secret-test-secret-0123"

    struct Claims: JWTPayload {
        var sub: SubjectClaim?
        var role: String?
        var email: String?
        var exp: ExpirationClaim
        func verify(using algorithm: some JWTAlgorithm) throws {}
    }

    static func sign(_ claims: Claims, secret: String = secret) async throws -> String {
        let keys = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(claims)
    }

    static func claims(role: String?, sub: UUID? = nil, expiresIn: TimeInterval = 3600) -> Claims {
        Claims(
            sub: sub.map { SubjectClaim(value: $0.uuidString.lowercased()) }, role: role, email: "someone@example.com",
            exp: ExpirationClaim(value: Date().addingTimeInterval(expiresIn)))
    }

    let resolver: CallerResolver

    init() async {
        resolver = CallerResolver(verifier: await JWTVerifier(secret: Self.secret))
    }

    @Test("no credentials: anon")
    func anonymous() async throws {
        #expect(try await resolver.caller(authorization: nil, apikey: nil) == .anonymous)
    }

    @Test("a user's bearer token: authenticated, with the user id and every claim passed through")
    func bearer() async throws {
        let user = UUID()
        let token = try await Self.sign(Self.claims(role: "authenticated", sub: user))
        let caller = try await resolver.caller(authorization: "Bearer \(token)", apikey: "ignored-when-bearer-present")
        #expect(caller.role == .authenticated)
        #expect(caller.userID == user)
        let claims = try JSONSerialization.jsonObject(with: Data(caller.claimsJSON.utf8)) as? [String: Any]
        #expect(claims?["email"] as? String == "someone@example.com")
    }

    @Test("only the apikey: its role")
    func apikeyOnly() async throws {
        let key = try await Self.sign(Self.claims(role: "service_role"))
        let caller = try await resolver.caller(authorization: nil, apikey: key)
        #expect(caller.role == .serviceRole)
        #expect(caller.userID == nil)
    }

    @Test("a token verified once (and remembered) is refused as soon as it expires")
    func rememberedTokenExpires() async throws {
        let token = try await Self.sign(Self.claims(role: "authenticated", sub: UUID(), expiresIn: 1.5))
        #expect(try await resolver.caller(authorization: "Bearer \(token)", apikey: nil).role == .authenticated)
        #expect(try await resolver.caller(authorization: "Bearer \(token)", apikey: nil).role == .authenticated)
        try await Task.sleep(for: .milliseconds(2600))
        await #expect(throws: AuthenticationError.expired) {
            try await resolver.caller(authorization: "Bearer \(token)", apikey: nil)
        }
    }

    @Test("bad credentials are refused, never downgraded to anon")
    func refusals() async throws {
        let expired = try await Self.sign(Self.claims(role: "authenticated", expiresIn: -60))
        await #expect(throws: AuthenticationError.expired) {
            try await resolver.caller(authorization: "Bearer \(expired)", apikey: nil)
        }
        let foreign = try await Self.sign(Self.claims(role: "authenticated"), secret: "another-secret-another-secret-another-1")
        await #expect(throws: AuthenticationError.invalidToken) {
            try await resolver.caller(authorization: "Bearer \(foreign)", apikey: nil)
        }
        let superuser = try await Self.sign(Self.claims(role: "postgres"))
        await #expect(throws: AuthenticationError.roleNotAllowed("postgres")) {
            try await resolver.caller(authorization: "Bearer \(superuser)", apikey: nil)
        }
        await #expect(throws: AuthenticationError.malformedAuthorizationHeader) {
            try await resolver.caller(authorization: "Basic dXNlcjpwYXNz", apikey: nil)
        }
        await #expect(throws: AuthenticationError.invalidToken) {
            try await resolver.caller(authorization: "Bearer not.a.jwt", apikey: nil)
        }
    }

    @Test("a token without a role claim runs as anon, as in PostgREST")
    func missingRole() async throws {
        let token = try await Self.sign(Self.claims(role: nil))
        #expect(try await resolver.caller(authorization: "Bearer \(token)", apikey: nil).role == .anon)
    }

    @Test("the verified claims are what auth.uid() and auth.jwt() read in the database")
    func claimsReachPostgres() async throws {
        let database = try await TestDatabase.migrated()
        let user = UUID()
        let token = try await Self.sign(Self.claims(role: "authenticated", sub: user))
        let caller = try await resolver.caller(authorization: "Bearer \(token)", apikey: nil)
        let seen = try await database.withClient { client in
            try await client.withCaller(caller, logger: database.logger) { connection in
                try await connection.strings(
                    "SELECT auth.uid()::text || ' ' || (auth.jwt() ->> 'email') || ' ' || current_user", logger: database.logger)
            }
        }
        #expect(seen == ["\(user.uuidString.lowercased()) someone@example.com authenticated"])
    }
}
