import Foundation

/// The database roles a request may run as; the JWT's `role` claim must be one of these.
public enum DatabaseRole: String, Sendable, CaseIterable {
    case anon
    case authenticated
    case serviceRole = "service_role"
}

/// Who a request runs as: a role for `SET LOCAL ROLE` and the JWT claims that `auth.uid()`,
/// `auth.role()` and `auth.jwt()` read, exactly as PostgREST hands them to PostgreSQL.
public struct Caller: Sendable, Equatable {
    public let role: DatabaseRole
    /// The verified claims as JSON text, passed unchanged to `request.jwt.claims`.
    public let claimsJSON: String
    /// The `sub` claim when it is a user id.
    public let userID: UUID?
    /// The `session_id` claim of a token the auth service issued: the session it dies with.
    public let sessionID: UUID?

    public init(role: DatabaseRole, claimsJSON: String, userID: UUID?, sessionID: UUID? = nil) {
        self.role = role
        self.claimsJSON = claimsJSON
        self.userID = userID
        self.sessionID = sessionID
    }

    /// A request without a token.
    public static let anonymous = Caller(role: .anon, claimsJSON: #"{"role":"anon"}"#, userID: nil)
}

extension Caller {
    /// The operator's role: bypasses RLS. The auth service runs its SQL as this role.
    public static let serviceRole = Caller(role: .serviceRole, claimsJSON: #"{"role":"service_role"}"#, userID: nil)
}
