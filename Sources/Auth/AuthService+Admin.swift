import Database
import Foundation
import PostgresNIO

/// The admin API (`/auth/v1/admin/users`), for the service-role key only; the HTTP layer checks the key.
extension AuthService {
    public struct UserPage: Sendable {
        /// JSON array text of User objects.
        public let usersJSON: String
        public let total: Int
    }

    public func listUsers(page: Int, perPage: Int) async throws -> UserPage {
        // The page is bounded too: its offset is computed here and must not overflow.
        guard (1...1_000_000).contains(page), (1...1000).contains(perPage) else {
            throw AuthError.validationFailed("page must be between 1 and 1000000 and per_page between 1 and 1000")
        }
        let offset = (page - 1) * perPage
        return try await asServiceRole { connection in
            let rows = try await connection.query(
                """
                SELECT coalesce((SELECT jsonb_agg(internal.user_json(u) ORDER BY u.created_at, u.id)
                                 FROM (SELECT * FROM auth.users ORDER BY created_at, id LIMIT \(perPage) OFFSET \(offset)) u),
                                '[]'::jsonb)::text,
                       (SELECT count(*)::int FROM auth.users)
                """, logger: logger)
            for try await (users, total) in rows.decode((String, Int).self) {
                return UserPage(usersJSON: users, total: total)
            }
            return UserPage(usersJSON: "[]", total: 0)
        }
    }

    public func adminCreateUser(_ request: AdminUserRequest) async throws -> String {
        let email = request.email?.trimmingCharacters(in: .whitespaces) ?? ""
        guard !email.isEmpty else { throw AuthError.validationFailed("email is required") }
        try Self.validateEmail(email)
        var hash: String?
        if let password = request.password {
            try passwordPolicy.check(password)
            hash = try await hasher.hash(password)
        }
        let userMetadata = try Self.metadataObject(request.user_metadata, field: "user_metadata")
        var appMetadata = try Self.metadataObject(request.app_metadata, field: "app_metadata").objectValue ?? [:]
        appMetadata["provider"] = appMetadata["provider"] ?? .string("email")
        appMetadata["providers"] = appMetadata["providers"] ?? .array([.string("email")])
        let ban = try request.ban_duration.map(Self.parseBanDuration)
        let banSeconds: Int? = if case .until(let seconds) = ban { seconds } else { nil }
        let confirmed = request.email_confirm ?? false
        let created: Account? = try await asServiceRole { [hash, appMetadata] connection in
            try await Self.firstAccount(
                try await connection.query(
                    """
                    INSERT INTO auth.users AS u (email, encrypted_password, raw_app_meta_data, raw_user_meta_data,
                                                 email_confirmed_at, banned_until)
                    VALUES (\(email), \(hash), \(JSONValue.object(appMetadata).jsonText)::jsonb, \(userMetadata.jsonText)::jsonb,
                            CASE WHEN \(confirmed) THEN now() END,
                            CASE WHEN \(banSeconds)::int IS NOT NULL THEN now() + make_interval(secs => \(banSeconds)::int) END)
                    ON CONFLICT ((lower(email))) DO NOTHING
                    RETURNING \(unescaped: Account.columns)
                    """, logger: logger))
        }
        guard let created else { throw AuthError.emailExists }
        return created.userJSON
    }

    public func adminUser(id: UUID) async throws -> String {
        let account = try await asServiceRole { connection in
            try await Self.firstAccount(
                try await connection.query("SELECT \(unescaped: Account.columns) FROM auth.users u WHERE u.id = \(id)", logger: logger))
        }
        guard let account else { throw AuthError.userNotFound }
        return account.userJSON
    }

    public func adminUpdateUser(id: UUID, _ request: AdminUserRequest) async throws -> String {
        let email = request.email?.trimmingCharacters(in: .whitespaces)
        if let email { try Self.validateEmail(email) }
        var hash: String?
        if let password = request.password {
            try passwordPolicy.check(password)
            hash = try await hasher.hash(password)
        }
        let userMetadata = try request.user_metadata.map { try Self.metadataObject($0, field: "user_metadata") }
        let appMetadata = try request.app_metadata.map { try Self.metadataObject($0, field: "app_metadata") }
        let ban = try request.ban_duration.map(Self.parseBanDuration)
        return try await update(
            userID: id, email: email, passwordHash: hash, userMetadata: userMetadata, appMetadata: appMetadata,
            bannedUntil: ban, confirmEmail: request.email_confirm)
    }

    /// Deletes a user with everything they own (profile, posts, follows… cascade).
    public func adminDeleteUser(id: UUID) async throws {
        let deleted = try await asServiceRole { connection in
            try await connection.query("DELETE FROM auth.users WHERE id = \(id)", logger: logger).get().metadata.rows ?? 0
        }
        guard deleted > 0 else { throw AuthError.userNotFound }
        sessions?.forget(user: id)
    }

    /// "none" lifts a ban; a Go duration ("24h", "1h30m", "90s") bans for that long.
    static func parseBanDuration(_ text: String) throws(AuthError) -> BanChange {
        if text == "none" { return .lift }
        var seconds = 0.0
        var number = ""
        var unit = ""
        func flush() throws(AuthError) {
            guard let value = Double(number) else { throw AuthError.validationFailed("invalid ban_duration '\(text)'") }
            switch unit {
            case "h": seconds += value * 3600
            case "m": seconds += value * 60
            case "s": seconds += value
            case "ms": seconds += value / 1000
            default: throw AuthError.validationFailed("invalid ban_duration '\(text)': use units h, m, s")
            }
            number = ""
            unit = ""
        }
        for character in text {
            if character.isNumber || character == "." {
                if !unit.isEmpty { try flush() }
                number.append(character)
            } else {
                unit.append(character)
            }
        }
        try flush()
        guard seconds >= 1, seconds <= 100 * 365 * 86400 else {
            throw AuthError.validationFailed("ban_duration must be between 1s and 100 years")
        }
        return .until(seconds: Int(seconds))
    }
}
