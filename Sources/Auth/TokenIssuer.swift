import Database
import Foundation
import JWTKit

/// Signs the JWTs FeedFusion hands out: users' access tokens and the project's API keys.
public struct TokenIssuer: Sendable {
    let keys: JWTKeyCollection
    /// `iss` of access tokens: `<external URL>/auth/v1`, as GoTrue sets it.
    public let issuer: String
    public let accessTokenLifetime: Int

    public init(secret: String, issuer: String, accessTokenLifetime: Int) async {
        keys = await makeJWTKeys(secret: secret)
        self.issuer = issuer
        self.accessTokenLifetime = accessTokenLifetime
    }

    /// An access token for `account` in session `sessionID`, and when it expires (epoch seconds).
    func accessToken(for account: Account, sessionID: UUID, signedInAt: Date, now: Date = Date()) async throws -> (String, Int) {
        let issuedAt = Int(now.timeIntervalSince1970)
        let expiresAt = issuedAt + accessTokenLifetime
        let claims = AccessTokenClaims(
            aud: "authenticated", exp: expiresAt, iat: issuedAt, iss: issuer, sub: account.id.uuidString.lowercased(),
            email: account.email, phone: "", app_metadata: account.appMetadata, user_metadata: account.userMetadata,
            role: DatabaseRole.authenticated.rawValue, aal: "aal1",
            amr: [.init(method: "password", timestamp: Int(signedInAt.timeIntervalSince1970))],
            session_id: sessionID.uuidString.lowercased(), is_anonymous: false)
        return (try await keys.sign(claims), expiresAt)
    }

    /// A long-lived API key (`anon` or `service_role`). Its times are fixed, so the same secret
    /// always yields the same key and scripts can keep it.
    public func apiKey(role: DatabaseRole) async throws -> String {
        try await keys.sign(APIKeyClaims(iss: "feedfusion", role: role.rawValue, iat: 1_735_689_600, exp: 2_051_222_400))
    }

    /// Verifies a user's access token fully (signature, expiry, audience) and returns its claims.
    func verifyAccessToken(_ token: String) async throws(AuthError) -> AccessTokenClaims {
        do {
            return try await keys.verify(token, as: AccessTokenClaims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw .badJWT("invalid JWT: \(error.reason ?? "token is expired or not for this audience")")
        } catch {
            throw .badJWT("invalid JWT: unable to parse or verify signature")
        }
    }
}

/// The claims of a GoTrue access token (see the compat spec).
struct AccessTokenClaims: JWTPayload {
    struct AuthenticationMethod: Codable, Sendable {
        var method: String
        var timestamp: Int
    }

    var aud: String
    var exp: Int
    var iat: Int
    var iss: String
    var sub: String
    var email: String
    var phone: String
    var app_metadata: JSONValue
    var user_metadata: JSONValue
    var role: String
    var aal: String
    var amr: [AuthenticationMethod]
    var session_id: String
    var is_anonymous: Bool

    func verify(using algorithm: some JWTAlgorithm) throws {
        guard Double(exp) > Date().timeIntervalSince1970 else {
            throw JWTError.claimVerificationFailure(failedClaim: nil, reason: "token is expired")
        }
        guard aud == "authenticated" else {
            throw JWTError.claimVerificationFailure(failedClaim: nil, reason: "token is not for the authenticated audience")
        }
    }

    var userID: UUID? { UUID(uuidString: sub) }
    var sessionID: UUID? { UUID(uuidString: session_id) }
}

struct APIKeyClaims: JWTPayload {
    var iss: String
    var role: String
    var iat: Int
    var exp: Int

    func verify(using algorithm: some JWTAlgorithm) throws {}
}
