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
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
                throw .malformedAuthorizationHeader
            }
            return try await verifier.caller(forToken: parts[1].trimmingSpaces)
        }
        if let apikey, !apikey.isEmpty {
            return try await verifier.caller(forToken: apikey)
        }
        return .anonymous
    }
}
