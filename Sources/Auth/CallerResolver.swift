import Database

/// Finds who a request runs as from its headers, as Supabase's gateway does: the bearer token
/// when there is one, otherwise the `apikey`, otherwise the anonymous role.
/// A signed-in caller is also checked against the ``SessionGate`` when there is one: a token whose
/// session ended (sign-out, ban, deleted user) is refused like a bad one.
public struct CallerResolver: Sendable {
    let verifier: JWTVerifier
    public let sessions: SessionGate?

    public init(verifier: JWTVerifier, sessions: SessionGate? = nil) {
        self.verifier = verifier
        self.sessions = sessions
    }

    public func caller(authorization: String?, apikey: String?) async throws(AuthenticationError) -> Caller {
        let caller: Caller
        if let authorization {
            guard let token = bearerCredentials(authorization) else { throw .malformedAuthorizationHeader }
            caller = try await verifier.caller(forToken: token.trimmingSpaces)
        } else if let apikey, !apikey.isEmpty {
            caller = try await verifier.caller(forToken: apikey)
        } else {
            return .anonymous
        }
        switch await sessions?.check(caller) ?? .live {
        case .live: return caller
        case .ended: throw .sessionEnded
        case .unverifiable: throw .sessionUnverifiable
        }
    }
}

/// What follows `Bearer ` (the scheme in any case) in an `Authorization` header; nil when the
/// header is another scheme or carries nothing.
public func bearerCredentials(_ authorization: String) -> Substring? {
    let parts = authorization.split(separator: " ", maxSplits: 1)
    guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else { return nil }
    return parts[1]
}
