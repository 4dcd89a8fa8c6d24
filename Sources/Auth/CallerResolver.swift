import Database

/// Finds who a request runs as from its headers, as Supabase's gateway does: the bearer token
/// when there is one, otherwise the `apikey`, otherwise the anonymous role.
public struct CallerResolver: Sendable {
    let verifier: JWTVerifier

    public init(verifier: JWTVerifier) {
        self.verifier = verifier
    }

    public func caller(authorization: String?, apikey: String?) async throws(AuthenticationError) -> Caller {
        if let authorization {
            guard let token = bearerCredentials(authorization) else { throw .malformedAuthorizationHeader }
            return try await verifier.caller(forToken: token.trimmingSpaces)
        }
        if let apikey, !apikey.isEmpty {
            return try await verifier.caller(forToken: apikey)
        }
        return .anonymous
    }
}

/// What follows `Bearer ` (the scheme in any case) in an `Authorization` header; nil when the
/// header is another scheme or carries nothing.
public func bearerCredentials(_ authorization: String) -> Substring? {
    let parts = authorization.split(separator: " ", maxSplits: 1)
    guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else { return nil }
    return parts[1]
}
