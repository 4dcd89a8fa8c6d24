import AppConfig
import Database
import Foundation
import Logging
import Mail
import PostgresNIO
import RateLimiting

/// The GoTrue-compatible account service: sign-up, sign-in, refresh-token rotation, the user's own
/// account, and the admin API. Its SQL runs as `service_role` in one transaction per operation.
public struct AuthService: Sendable {
    let client: PostgresClient
    public let settings: AuthSettings
    public let passwordPolicy: PasswordPolicy
    let hasher: PasswordHasher
    public let tokens: TokenIssuer
    let refreshTokens: RefreshTokens
    /// Password sign-in attempts per account (lower-cased email), counted before the hash and cleared
    /// by a success; shared by every instance through Redis when it is configured.
    public var failedSignIns: any RequestLimiter
    /// How long an operation waits for a pooled connection (then ``ConnectionAcquisitionTimeout``).
    let acquisitionTimeout: Duration
    let logger: Logger
    /// The data API's check of live sessions: told directly when this service ends sessions or bans
    /// a user, so that this instance refuses the token on the very next request (other instances
    /// hear it from the database's NOTIFY).
    public var sessions: SessionGate?
    /// Mail (recovery and confirmation codes): SMTP, or the log when no server is configured.
    public var mailer: any Mailer
    public let mail: MailSettings
    /// Mails of one kind per address, counted whether or not the address has an account.
    public var mailSends: any RequestLimiter
    /// This server as clients reach it (links in mails lead to its `/auth/v1/verify`).
    public let externalURL: String
    /// Told of every session this service hands out (sign-up, sign-in, refresh, verified mail), after
    /// its transaction committed: a user whose session starts is about to read their feeds (the
    /// server builds their home timeline then, as Mastodon does when a user signs in).
    public var sessionStarted: (@Sendable (AuthSession) -> Void)?

    public init(
        client: PostgresClient, settings: AuthSettings, secret: String, externalURL: String,
        mail: MailSettings = MailSettings(), mailer: (any Mailer)? = nil,
        acquisitionTimeout: Duration = PostgresClient.defaultAcquisitionTimeout, logger: Logger
    ) async {
        self.client = client
        self.externalURL = externalURL
        self.mail = mail
        self.mailer = mailer ?? (mail.isConfigured ? SMTPMailer(settings: mail) : LogMailer(logger: logger))
        // 0 seconds: no interval (tests); the /auth/v1 rate limit still applies.
        mailSends = RateLimiter(
            RateLimit(limit: mail.sendIntervalSeconds == 0 ? 1_000_000 : 1, period: .seconds(max(1, mail.sendIntervalSeconds))))
        self.settings = settings
        self.acquisitionTimeout = acquisitionTimeout
        passwordPolicy = PasswordPolicy(minimumLength: settings.passwordMinLength, requiredClasses: settings.passwordRequiredCharacters)
        hasher = PasswordHasher(cost: settings.bcryptCost)
        tokens = await TokenIssuer(
            secret: secret, issuer: externalURL + "/auth/v1", accessTokenLifetime: settings.accessTokenLifetime)
        refreshTokens = RefreshTokens(secret: secret)
        failedSignIns = RateLimiter(
            RateLimit(limit: settings.failedSignInLimit, period: .seconds(settings.failedSignInWindowSeconds)))
        self.logger = logger
    }

    /// One operation's transaction, as the service role.
    func asServiceRole<Result: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        try await client.withCaller(.serviceRole, acquisitionTimeout: acquisitionTimeout, logger: logger, body)
    }

    /// Either a session (no confirmation needed) or the bare user (confirmation pending).
    public enum SignUpResult: Sendable {
        case session(AuthSession)
        case user(String)
    }

    // MARK: - Sign-up and sign-in

    public func signUp(_ request: SignUpRequest) async throws -> SignUpResult {
        let email = request.email?.trimmingCharacters(in: .whitespaces) ?? ""
        let password = request.password ?? ""
        if email.isEmpty && password.isEmpty && (request.phone ?? "").isEmpty { throw AuthError.anonymousDisabled }
        if settings.signupsDisabled { throw AuthError.signupDisabled }
        if email.isEmpty {
            throw AuthError(status: 422, code: "phone_provider_disabled", message: "Phone signups are disabled; sign up with an email")
        }
        try Self.validateEmail(email)
        guard !password.isEmpty else { throw AuthError.validationFailed("Signup requires a valid password") }
        try passwordPolicy.check(password)
        let metadata = try Self.metadataObject(request.data, field: "data")
        let hash = try await hasher.hash(password)
        let confirmNow = !settings.emailConfirmationRequired
        let outcome: (Account, AuthSession?)? = try await asServiceRole { connection in
            let rows = try await connection.query(
                """
                INSERT INTO auth.users AS u (email, encrypted_password, raw_app_meta_data, raw_user_meta_data, email_confirmed_at)
                VALUES (\(email), \(hash), '{"provider":"email","providers":["email"]}'::jsonb, \(metadata.jsonText)::jsonb,
                        CASE WHEN \(confirmNow) THEN now() END)
                ON CONFLICT ((lower(email))) DO NOTHING
                RETURNING \(unescaped: Account.columns)
                """, logger: logger)
            guard let account = try await Self.firstAccount(rows) else { return nil }
            guard confirmNow else { return (account, nil) }
            return try await createSession(for: account, on: connection)
        }
        guard let outcome else { throw AuthError.userAlreadyExists }
        logger.info("user signed up", metadata: ["user_id": "\(outcome.0.id)"])
        if let session = outcome.1 { return .session(started(session)) }
        // Confirmation required: the code and link go out now. A mail that fails does not undo the
        // sign-up; `POST /resend` sends another.
        do {
            try await mailToken(.confirmation, email: outcome.0.email, redirectTo: request.redirectTo, onlyUnconfirmed: true)
        } catch {
            logger.warning("confirmation mail not sent at sign-up", metadata: ["user_id": "\(outcome.0.id)", "error": "\(error)"])
        }
        return .user(outcome.0.userJSON)
    }

    public func signIn(_ request: PasswordGrantRequest) async throws -> AuthSession {
        let email = request.email?.trimmingCharacters(in: .whitespaces) ?? ""
        let password = request.password ?? ""
        guard !email.isEmpty, !password.isEmpty else {
            throw AuthError.validationFailed("Sign-in requires an email and a password")
        }
        guard password.utf8.count <= PasswordPolicy.maximumBytes else { throw AuthError.invalidCredentials }
        // Counted per account whether or not it exists, so the answer reveals nothing; counted before
        // the hash, in one atomic step, so that concurrent guesses cannot all pass a check made
        // before any of them was recorded.
        let throttleKey = email.lowercased()
        guard await failedSignIns.record(throttleKey, now: .now).allowed else { throw AuthError.overRequestRateLimit }

        let account = try await asServiceRole { connection in
            try await Self.firstAccount(
                try await connection.query(
                    "SELECT \(unescaped: Account.columns) FROM auth.users u WHERE lower(u.email) = lower(\(email))", logger: logger))
        }
        // Always one bcrypt verification: an unknown email costs what a wrong password costs.
        guard try await hasher.verify(password, hash: account?.passwordHash), let account else {
            throw AuthError.invalidCredentials
        }
        if account.banned { throw AuthError.userBanned }
        if settings.emailConfirmationRequired && !account.emailConfirmed { throw AuthError.emailNotConfirmed }
        await failedSignIns.reset(throttleKey)
        return started(try await asServiceRole { connection in
            try await createSession(for: account, on: connection).1
        })
    }

    /// `session`, once `sessionStarted` has been told of it.
    func started(_ session: AuthSession) -> AuthSession {
        sessionStarted?(session)
        return session
    }

    // MARK: - Refresh-token rotation

    private enum RefreshOutcome: Sendable {
        case rotated(Account, UUID, successor: String)
        case notFound
        case banned
        case reuseDetected
    }

    public func refresh(_ request: RefreshGrantRequest) async throws -> AuthSession {
        guard let token = request.refresh_token, !token.isEmpty, token.utf8.count <= 512 else {
            throw AuthError.refreshTokenNotFound
        }
        let successor = refreshTokens.successor(of: token)
        let grace = settings.refreshTokenReuseInterval
        let outcome: RefreshOutcome = try await asServiceRole { connection in
            let rows = try await connection.query(
                """
                SELECT rt.id, rt.revoked, rt.updated_at > now() - make_interval(secs => \(grace)), rt.session_id,
                       \(unescaped: Account.columns)
                FROM auth.refresh_tokens rt
                JOIN auth.sessions s ON s.id = rt.session_id
                JOIN auth.users u ON u.id = rt.user_id
                WHERE rt.token_hash = \(RefreshTokens.hash(token))
                FOR UPDATE OF rt
                """, logger: logger)
            var found: (Int64, Bool, Bool, UUID, Account)?
            for try await row in rows {
                let cells = row.makeRandomAccess()
                found = (
                    try cells[0].decode(Int64.self), try cells[1].decode(Bool.self), try cells[2].decode(Bool.self),
                    try cells[3].decode(UUID.self), try Account(row: row, offset: 4)
                )
            }
            guard let (tokenID, revoked, recent, sessionID, account) = found else { return .notFound }
            if account.banned { return .banned }
            if revoked {
                // A rotated token again: a retry or a second tab within the window gets the same
                // successor; later, it means the token leaked, and the whole session ends.
                guard recent else {
                    try await connection.query("DELETE FROM auth.sessions WHERE id = \(sessionID)", logger: logger)
                    return .reuseDetected
                }
                let successorExists = try await connection.query(
                    "SELECT 1 FROM auth.refresh_tokens WHERE token_hash = \(RefreshTokens.hash(successor))", logger: logger)
                for try await _ in successorExists { return .rotated(account, sessionID, successor: successor) }
                return .notFound
            }
            try await connection.query(
                "UPDATE auth.refresh_tokens SET revoked = true, updated_at = now() WHERE id = \(tokenID)", logger: logger)
            try await connection.query(
                """
                INSERT INTO auth.refresh_tokens (token_hash, user_id, session_id, parent_id)
                VALUES (\(RefreshTokens.hash(successor)), \(account.id), \(sessionID), \(tokenID))
                """, logger: logger)
            try await connection.query("UPDATE auth.sessions SET updated_at = now() WHERE id = \(sessionID)", logger: logger)
            return .rotated(account, sessionID, successor: successor)
        }
        switch outcome {
        case .notFound: throw AuthError.refreshTokenNotFound
        case .banned: throw AuthError.userBanned
        case .reuseDetected:
            logger.warning("refresh token reused after rotation; session revoked")
            throw AuthError.refreshTokenAlreadyUsed
        case .rotated(let account, let sessionID, let successor):
            return started(try await session(for: account, sessionID: sessionID, refreshToken: successor))
        }
    }

    // MARK: - The signed-in user

    /// The user behind an access token whose session still exists.
    public func user(accessToken: String) async throws -> String {
        let claims = try await tokens.verifyAccessToken(accessToken)
        return try await account(for: claims).userJSON
    }

    public func updateUser(accessToken: String, _ request: UserUpdateRequest) async throws -> String {
        let claims = try await tokens.verifyAccessToken(accessToken)
        let current = try await account(for: claims)
        var newHash: String?
        if let password = request.password {
            try passwordPolicy.check(password)
            if try await hasher.verify(password, hash: current.passwordHash) { throw AuthError.samePassword }
            newHash = try await hasher.hash(password)
        }
        var email = request.email?.trimmingCharacters(in: .whitespaces)
        if let email { try Self.validateEmail(email) }
        if email?.lowercased() == current.email.lowercased() { email = nil }
        // With confirmation on, a new address waits for it (GoTrue's email_change); the old one stays.
        let pendingEmail = settings.emailConfirmationRequired ? email : nil
        if pendingEmail != nil { email = nil }
        let patch = try request.data.map { try Self.metadataObject($0, field: "data") }
        var userJSON = try await update(
            userID: current.id, email: email, passwordHash: newHash, userMetadata: patch, appMetadata: nil,
            bannedUntil: nil, confirmEmail: nil)
        if let pendingEmail { userJSON = try await requestEmailChange(userID: current.id, to: pendingEmail) }
        if newHash != nil, let sessionID = claims.sessionID {
            // A new password ends every other session (GoTrue's behaviour): whoever knew the old one is out.
            try await asServiceRole { connection in
                try await connection.query(
                    "DELETE FROM auth.sessions WHERE user_id = \(current.id) AND id <> \(sessionID)", logger: logger)
            }
            sessions?.forget(user: current.id)
        }
        return userJSON
    }

    /// Records `email` as the user's pending new address; refused when another account uses it.
    private func requestEmailChange(userID: UUID, to email: String) async throws -> String {
        let account = try await asServiceRole { connection in
            for try await taken in try await connection.query(
                "SELECT EXISTS (SELECT 1 FROM auth.users WHERE lower(email) = lower(\(email)) AND id <> \(userID))", logger: logger
            ).decode(Bool.self) where taken {
                throw AuthError.emailExists
            }
            return try await Self.firstAccount(
                try await connection.query(
                    """
                    UPDATE auth.users u SET email_change = \(email), email_change_sent_at = now(), updated_at = now()
                    WHERE id = \(userID) RETURNING \(unescaped: Account.columns)
                    """, logger: logger))
        }
        guard let account else { throw AuthError.userNotFound }
        return account.userJSON
    }

    /// Ends sessions of the token's user: this one (`local`), all (`global`), or all but this one (`others`).
    public func logout(accessToken: String, scope: LogoutScope) async throws {
        let claims = try await tokens.verifyAccessToken(accessToken)
        guard let userID = claims.userID, let sessionID = claims.sessionID else { throw AuthError.badJWT("token has no session") }
        try await asServiceRole { connection in
            switch scope {
            case .local:
                try await connection.query("DELETE FROM auth.sessions WHERE id = \(sessionID)", logger: logger)
            case .global:
                try await connection.query("DELETE FROM auth.sessions WHERE user_id = \(userID)", logger: logger)
            case .others:
                try await connection.query(
                    "DELETE FROM auth.sessions WHERE user_id = \(userID) AND id <> \(sessionID)", logger: logger)
            }
        }
        sessions?.forget(user: userID)
    }

    // MARK: - Helpers shared by the flows

    func account(for claims: AccessTokenClaims) async throws -> Account {
        guard let userID = claims.userID, let sessionID = claims.sessionID else { throw AuthError.badJWT("token has no user session") }
        let account = try await asServiceRole { connection in
            try await Self.firstAccount(
                try await connection.query(
                    """
                    SELECT \(unescaped: Account.columns) FROM auth.users u
                    JOIN auth.sessions s ON s.user_id = u.id
                    WHERE u.id = \(userID) AND s.id = \(sessionID)
                    """, logger: logger))
        }
        guard let account else { throw AuthError.sessionNotFound }
        return account
    }

    /// Opens a session for `account`: the session row, its first refresh token, the sign-in time.
    func createSession(for account: Account, on connection: PostgresConnection) async throws -> (Account, AuthSession) {
        let refreshToken = refreshTokens.generate()
        var sessionID: UUID?
        for try await id in try await connection.query(
            "INSERT INTO auth.sessions (user_id) VALUES (\(account.id)) RETURNING id", logger: logger
        ).decode(UUID.self) {
            sessionID = id
        }
        guard let sessionID else { throw AuthError.sessionNotFound }
        try await connection.query(
            """
            INSERT INTO auth.refresh_tokens (token_hash, user_id, session_id)
            VALUES (\(RefreshTokens.hash(refreshToken)), \(account.id), \(sessionID))
            """, logger: logger)
        let signedIn = try await Self.firstAccount(
            try await connection.query(
                "UPDATE auth.users u SET last_sign_in_at = now() WHERE id = \(account.id) RETURNING \(unescaped: Account.columns)",
                logger: logger)) ?? account
        return (signedIn, try await session(for: signedIn, sessionID: sessionID, refreshToken: refreshToken))
    }

    private func session(for account: Account, sessionID: UUID, refreshToken: String) async throws -> AuthSession {
        let (accessToken, expiresAt) = try await tokens.accessToken(for: account, sessionID: sessionID, signedInAt: Date())
        return AuthSession(
            accessToken: accessToken, refreshToken: refreshToken, expiresIn: tokens.accessTokenLifetime, expiresAt: expiresAt,
            userJSON: account.userJSON)
    }

    /// Applies the given changes to a user and returns the User object; nil leaves a field alone.
    func update(
        userID: UUID, email: String?, passwordHash: String?, userMetadata: JSONValue?, appMetadata: JSONValue?,
        bannedUntil: BanChange?, confirmEmail: Bool?
    ) async throws -> String {
        let banSeconds: Int? = if case .until(let seconds) = bannedUntil { seconds } else { nil }
        let liftBan = bannedUntil == .lift
        let updated: Account?
        do {
            updated = try await asServiceRole { connection in
                let account = try await Self.firstAccount(
                    try await connection.query(
                        """
                        UPDATE auth.users u SET
                            email = coalesce(\(email), email),
                            encrypted_password = coalesce(\(passwordHash), encrypted_password),
                            raw_user_meta_data = CASE WHEN \(userMetadata?.jsonText)::jsonb IS NULL THEN raw_user_meta_data
                                ELSE internal.jsonb_merge_patch(raw_user_meta_data, \(userMetadata?.jsonText)::jsonb) END,
                            raw_app_meta_data = CASE WHEN \(appMetadata?.jsonText)::jsonb IS NULL THEN raw_app_meta_data
                                ELSE internal.jsonb_merge_patch(raw_app_meta_data, \(appMetadata?.jsonText)::jsonb) END,
                            banned_until = CASE WHEN \(liftBan) THEN NULL
                                WHEN \(banSeconds)::int IS NOT NULL THEN now() + make_interval(secs => \(banSeconds)::int)
                                ELSE banned_until END,
                            email_confirmed_at = CASE WHEN \(confirmEmail) IS TRUE THEN coalesce(email_confirmed_at, now())
                                WHEN \(confirmEmail) IS FALSE THEN NULL ELSE email_confirmed_at END,
                            updated_at = now()
                        WHERE id = \(userID)
                        RETURNING \(unescaped: Account.columns)
                        """, logger: logger))
                if let account, account.banned {
                    // A ban ends every session at once.
                    try await connection.query("DELETE FROM auth.sessions WHERE user_id = \(userID)", logger: logger)
                }
                return account
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw AuthError.emailExists
        }
        guard let updated else { throw AuthError.userNotFound }
        if bannedUntil != nil { sessions?.forget(user: userID) }
        return updated.userJSON
    }

    static func firstAccount(_ rows: PostgresRowSequence) async throws -> Account? {
        var account: Account?
        for try await row in rows where account == nil {
            account = try Account(row: row)
        }
        return account
    }

    static func validateEmail(_ email: String) throws(AuthError) {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.utf8.count <= 320, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
            !parts[1].hasPrefix("."), !parts[1].hasSuffix("."), !email.contains(where: \.isWhitespace),
            !email.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw AuthError(status: 400, code: "email_address_invalid", message: "Unable to validate email address: invalid format")
        }
    }

    /// Metadata must be a JSON object of reasonable size.
    static func metadataObject(_ value: JSONValue?, field: String) throws(AuthError) -> JSONValue {
        guard let value, value != .null else { return .object([:]) }
        guard value.objectValue != nil else { throw AuthError.validationFailed("\(field) must be a JSON object") }
        guard value.jsonText.utf8.count <= 16_384 else { throw AuthError.validationFailed("\(field) must be at most 16 KB") }
        guard !value.containsNUL else { throw AuthError.validationFailed("\(field) must not contain the character U+0000") }
        return value
    }
}

/// A change to a user's ban.
enum BanChange: Equatable, Sendable {
    case lift
    case until(seconds: Int)
}
