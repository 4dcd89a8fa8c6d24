import Database
import Foundation
import JWTKit

/// Verifies HS256 JWTs signed with the project's secret and turns them into the `Caller` a request runs as.
public struct JWTVerifier: Sendable {
    let keys: JWTKeyCollection
    let verified = VerifiedTokenCache()

    public init(secret: String) async {
        keys = await makeJWTKeys(secret: secret)
    }

    /// The caller for a token, or `AuthenticationError` when the token is not one we signed,
    /// has expired, or names a role requests may not run as.
    public func caller(forToken token: String) async throws(AuthenticationError) -> Caller {
        if let cached = verified.caller(forToken: token) { return try cached.get() }
        let claims: RoleClaims
        do {
            claims = try await keys.verify(token, as: RoleClaims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw .expired
        } catch {
            throw .invalidToken
        }
        // PostgREST: a token without a role claim runs as the anonymous role.
        let roleName = claims.role ?? DatabaseRole.anon.rawValue
        guard let role = DatabaseRole(rawValue: roleName) else { throw .roleNotAllowed(roleName) }
        // The claims go to PostgreSQL exactly as signed: the payload segment, not a re-encoding.
        guard let claimsJSON = Self.payloadJSON(of: token) else { throw .invalidToken }
        let caller = Caller(
            role: role, claimsJSON: claimsJSON, userID: claims.sub.flatMap { UUID(uuidString: $0.value) },
            sessionID: claims.session_id.flatMap { UUID(uuidString: $0) })
        verified.insert(.init(caller: caller, notBefore: claims.nbf?.value, expires: claims.exp?.value), forToken: token)
        return caller
    }

    static func payloadJSON(of token: String) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        guard let bytes = Base64URL.decode(parts[1]) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}

/// The claims FeedFusion itself reads; everything else in the token passes through untouched.
struct RoleClaims: JWTPayload {
    var role: String?
    var sub: SubjectClaim?
    var exp: ExpirationClaim?
    var nbf: NotBeforeClaim?
    var aud: AudienceClaim?
    var session_id: String?

    func verify(using algorithm: some JWTAlgorithm) throws {
        try exp?.verifyNotExpired()
        try nbf?.verifyNotBefore()
        // User tokens are for the "authenticated" audience; API keys carry none.
        try aud?.verifyIntendedAudience(includes: "authenticated")
    }
}

/// Why a request's credentials were refused. Always HTTP 401: never silently `anon`.
public enum AuthenticationError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformedAuthorizationHeader
    case invalidToken
    case expired
    case roleNotAllowed(String)
    /// The token's session ended (signed out, banned, deleted): access ends with it.
    case sessionEnded
    /// Whether the session lives could not be checked (the database did not answer).
    case sessionUnverifiable

    public var description: String {
        switch self {
        case .malformedAuthorizationHeader: "Authorization header must be 'Bearer <token>'"
        case .invalidToken: "invalid JWT: bad signature or malformed token"
        case .expired: "JWT expired"
        case .roleNotAllowed(let role): "JWT role '\(role)' is not allowed"
        case .sessionEnded: "JWT session has ended: the user signed out, was banned or was deleted"
        case .sessionUnverifiable: "the session could not be checked: the database is not reachable"
        }
    }
}
