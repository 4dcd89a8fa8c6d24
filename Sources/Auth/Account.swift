import Foundation
import PostgresNIO

/// A user as the auth service reads it: what tokens need, and the User object clients get.
struct Account: Sendable {
    let id: UUID
    let email: String
    let passwordHash: String?
    let emailConfirmed: Bool
    let banned: Bool
    let appMetadata: JSONValue
    let userMetadata: JSONValue
    /// The GoTrue User object, built by `internal.user_json`.
    let userJSON: String

    /// The select list every account query uses, matching `init(row:)`.
    static let columns = """
        u.id, u.email, u.encrypted_password, u.email_confirmed_at IS NOT NULL,
        coalesce(u.banned_until > now(), false), u.raw_app_meta_data::text, u.raw_user_meta_data::text,
        internal.user_json(u)::text
        """

    /// Reads the `columns` starting at column `offset` of `row`.
    init(row: PostgresRow, offset: Int = 0) throws {
        let cells = row.makeRandomAccess()
        id = try cells[offset].decode(UUID.self)
        email = try cells[offset + 1].decode(String.self)
        passwordHash = try cells[offset + 2].decode(String?.self)
        emailConfirmed = try cells[offset + 3].decode(Bool.self)
        banned = try cells[offset + 4].decode(Bool.self)
        appMetadata = try JSONValue(jsonText: cells[offset + 5].decode(String.self))
        userMetadata = try JSONValue(jsonText: cells[offset + 6].decode(String.self))
        userJSON = try cells[offset + 7].decode(String.self)
    }
}

/// What sign-in and refresh answer: GoTrue's Session object.
public struct AuthSession: Sendable {
    public let accessToken: String
    public let refreshToken: String
    public let expiresIn: Int
    public let expiresAt: Int
    /// The User object, as JSON text.
    public let userJSON: String

    /// The Session object as JSON.
    public func json() throws -> Data {
        let user = try JSONSerialization.jsonObject(with: Data(userJSON.utf8))
        let object: [String: Any] = [
            "access_token": accessToken, "token_type": "bearer", "expires_in": expiresIn, "expires_at": expiresAt,
            "refresh_token": refreshToken, "user": user,
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    }
}
