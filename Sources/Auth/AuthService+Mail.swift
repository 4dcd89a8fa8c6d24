import AppConfig
import Crypto
import Foundation
import Mail
import PostgresNIO

/// Mailed one-time tokens (GoTrue's `/recover`, `/verify`, `/resend`): a six-digit code and a link,
/// each working once, for `MAILER_OTP_EXPIRY_SECONDS`; at most one mail of a kind per address in
/// `MAILER_SEND_INTERVAL_SECONDS` (whether or not the address has an account, so the answer tells
/// nothing); a code wrong five times is void.
extension AuthService {
    public enum OneTimeKind: String, Sendable {
        case confirmation, recovery

        /// GoTrue's `type` values: `signup` and `email` confirm an address, `recovery` recovers.
        public init(verifyType: String?) throws(AuthError) {
            switch verifyType {
            case "signup", "email": self = .confirmation
            case "recovery": self = .recovery
            case nil, "": throw AuthError.validationFailed("Verify requires a verification type")
            default: throw AuthError.validationFailed("Verification type \(verifyType!) is not supported here (signup, email, recovery)")
            }
        }
    }

    static let maximumFailedAttempts = 5
    public static let otpExpired = AuthError(status: 403, code: "otp_expired", message: "Token has expired or is invalid")

    static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
    static func codeHash(email: String, code: String) -> String { hex(SHA256.hash(data: Data((email.lowercased() + code).utf8))) }
    static func linkHash(_ token: String) -> String { hex(SHA256.hash(data: Data(token.utf8))) }

    /// `POST /recover`: mails a recovery code and link when the address has an account; the same
    /// answer either way.
    public func recover(email rawEmail: String?, redirectTo: String?) async throws {
        let email = rawEmail?.trimmingCharacters(in: .whitespaces) ?? ""
        guard !email.isEmpty else { throw AuthError.validationFailed("Password recovery requires an email") }
        try Self.validateEmail(email)
        try await mailToken(.recovery, email: email, redirectTo: redirectTo, onlyUnconfirmed: false)
    }

    /// `POST /resend` for `signup`: a new confirmation mail when the address waits for one.
    public func resend(type: String?, email rawEmail: String?, redirectTo: String?) async throws {
        guard type == "signup" else {
            throw AuthError.validationFailed("Resend supports type signup here (email_change, sms and phone_change are not offered)")
        }
        let email = rawEmail?.trimmingCharacters(in: .whitespaces) ?? ""
        guard !email.isEmpty else { throw AuthError.validationFailed("Resend requires an email") }
        try Self.validateEmail(email)
        try await mailToken(.confirmation, email: email, redirectTo: redirectTo, onlyUnconfirmed: true)
    }

    /// Makes a token for the account of `email` (if any; banned accounts get none) and mails it.
    func mailToken(_ kind: OneTimeKind, email: String, redirectTo: String?, onlyUnconfirmed: Bool) async throws {
        guard await mailSends.record("\(kind.rawValue):\(email.lowercased())", now: .now).allowed else {
            throw AuthError(
                status: 429, code: "over_email_send_rate_limit",
                message: "For security purposes, you can only request this once every \(mail.sendIntervalSeconds) seconds")
        }
        let code = String(format: "%06d", Int.random(in: 0..<1_000_000))
        let link = refreshTokens.generate()
        let issued: Account? = try await asServiceRole { connection in
            guard let account = try await Self.firstAccount(
                try await connection.query(
                    "SELECT \(unescaped: Account.columns) FROM auth.users u WHERE lower(u.email) = lower(\(email))", logger: logger))
            else { return nil }
            if account.banned || (onlyUnconfirmed && account.emailConfirmed) { return nil }
            try await connection.query(
                """
                INSERT INTO auth.one_time_tokens (user_id, kind, code_hash, link_hash, expires_at)
                VALUES (\(account.id), \(kind.rawValue), \(Self.codeHash(email: account.email, code: code)), \(Self.linkHash(link)),
                        now() + make_interval(secs => \(mail.tokenLifetimeSeconds)))
                ON CONFLICT (user_id, kind) DO UPDATE SET code_hash = excluded.code_hash, link_hash = excluded.link_hash,
                    created_at = now(), expires_at = excluded.expires_at, failed_attempts = 0
                """, logger: logger)
            return account
        }
        guard let account = issued else { return }
        do {
            try await mailer.send(message(kind, to: account.email, code: code, link: link, redirectTo: redirectTo))
        } catch {
            // The mail server is away or refused: said as such (the address is not at fault); the
            // token stays, unusable without the mail, until a new request replaces it.
            logger.error("mail not sent", metadata: ["user_id": "\(account.id)", "error": "\(error)"])
            throw AuthError(
                status: 503, code: "email_send_failed",
                message: "The mail could not be sent right now (the mail server did not take it); try again in a minute")
        }
        logger.info("one-time token mailed", metadata: ["user_id": "\(account.id)", "kind": "\(kind.rawValue)"])
    }

    func message(_ kind: OneTimeKind, to email: String, code: String, link: String, redirectTo: String?) -> Mail {
        let minutes = max(1, mail.tokenLifetimeSeconds / 60)
        let address = externalURL + "/auth/v1/verify?" + Self.formEncoded([
            ("token", link), ("type", kind == .recovery ? "recovery" : "signup"), ("redirect_to", allowedRedirect(redirectTo)),
        ])
        switch kind {
        case .recovery:
            return Mail(to: email, subject: "Reset your password", text: """
                Someone (we hope you) asked to reset the password of the account \(email).

                Your code: \(code)

                Or open this link: \(address)

                The code and the link work once, for \(minutes) minutes. If you did not ask, ignore this mail: your password stays as it is.
                """)
        case .confirmation:
            return Mail(to: email, subject: "Confirm your email", text: """
                Welcome! Confirm that \(email) is yours to finish signing up.

                Your code: \(code)

                Or open this link: \(address)

                The code and the link work once, for \(minutes) minutes. If you did not sign up, ignore this mail.
                """)
        }
    }

    /// Where a link may send the browser: the site (`SITE_URL`, else this server) or a path on it;
    /// anything else becomes the site itself, so that a mailed link never leads to another origin.
    public func allowedRedirect(_ requested: String?) -> String {
        let site = mail.siteURL ?? externalURL
        guard let requested, let asked = URLComponents(string: requested), let home = URLComponents(string: site),
            asked.scheme == home.scheme, asked.host == home.host, asked.port == home.port
        else { return site + "/" }
        return requested
    }

    /// `POST /verify` with `email` + `token` (the code) or `token_hash` (the link's token); and the
    /// link itself (`GET /verify`). A match is used up and answered with a new session; the address
    /// counts as confirmed (the mail reached it).
    public func verify(kind: OneTimeKind, email: String?, code: String?, linkToken: String?) async throws -> AuthSession {
        enum Outcome: Sendable { case session(AuthSession), refused, banned }
        let outcome: Outcome = try await asServiceRole { connection in
            var row: (UUID, UUID, String, Int, Bool)?
            if let linkToken, !linkToken.isEmpty {
                for try await found in try await connection.query(
                    """
                    SELECT t.id, t.user_id, t.code_hash, t.failed_attempts, t.expires_at > now() FROM auth.one_time_tokens t
                    WHERE t.link_hash = \(Self.linkHash(linkToken)) AND t.kind = \(kind.rawValue) FOR UPDATE
                    """, logger: logger
                ).decode((UUID, UUID, String, Int, Bool).self) { row = found }
            } else if let email, let code {
                for try await found in try await connection.query(
                    """
                    SELECT t.id, t.user_id, t.code_hash, t.failed_attempts, t.expires_at > now() FROM auth.one_time_tokens t
                    JOIN auth.users u ON u.id = t.user_id
                    WHERE lower(u.email) = lower(\(email)) AND t.kind = \(kind.rawValue) FOR UPDATE OF t
                    """, logger: logger
                ).decode((UUID, UUID, String, Int, Bool).self) { row = found }
                if let (id, _, stored, failed, _) = row {
                    let given = Self.codeHash(email: email, code: code.trimmingCharacters(in: .whitespaces))
                    // Compared in constant time: the hash is secret until it matches.
                    if !Self.equalInConstantTime(given, stored) {
                        if failed + 1 >= Self.maximumFailedAttempts {
                            try await connection.query("DELETE FROM auth.one_time_tokens WHERE id = \(id)", logger: logger)
                        } else {
                            try await connection.query(
                                "UPDATE auth.one_time_tokens SET failed_attempts = failed_attempts + 1 WHERE id = \(id)", logger: logger)
                        }
                        return .refused
                    }
                }
            } else {
                throw AuthError.validationFailed("Verify requires an email and a token, or a token_hash")
            }
            guard let (id, userID, _, _, live) = row else { return .refused }
            try await connection.query("DELETE FROM auth.one_time_tokens WHERE id = \(id)", logger: logger)
            guard live else { return .refused }
            guard let account = try await Self.firstAccount(
                try await connection.query(
                    """
                    UPDATE auth.users u SET email_confirmed_at = coalesce(email_confirmed_at, now()), updated_at = now()
                    WHERE id = \(userID) RETURNING \(unescaped: Account.columns)
                    """, logger: logger))
            else { return .refused }
            if account.banned { return .banned }
            return .session(try await createSession(for: account, on: connection).1)
        }
        switch outcome {
        case .session(let session): return started(session)
        case .refused: throw Self.otpExpired
        case .banned: throw AuthError.userBanned
        }
    }

    /// `name=value&…` with everything but unreserved characters percent-encoded (Foundation's query
    /// encoding leaves `&`, `=` and `+` in values as they are).
    public static func formEncoded(_ pairs: [(String, String)]) -> String {
        var unreserved = CharacterSet.alphanumerics
        unreserved.insert(charactersIn: "-._~")
        func encode(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "" }
        return pairs.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }

    static func equalInConstantTime(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
