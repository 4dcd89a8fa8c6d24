/// Request bodies of the GoTrue API. Every field is optional here so that a missing one is
/// reported by the service with GoTrue's own message rather than as a decoding error.
public struct SignUpRequest: Decodable, Sendable {
    public var email: String?
    public var password: String?
    public var phone: String?
    public var data: JSONValue?
    /// Where the confirmation link leads (the `redirect_to` query parameter; set by the controller).
    public var redirectTo: String?

    enum CodingKeys: String, CodingKey { case email, password, phone, data }
}

public struct PasswordGrantRequest: Decodable, Sendable {
    public var email: String?
    public var password: String?
    public var phone: String?
}

public struct RefreshGrantRequest: Decodable, Sendable {
    public var refresh_token: String?
}

public struct UserUpdateRequest: Decodable, Sendable {
    public var email: String?
    public var password: String?
    public var data: JSONValue?
}

public struct AdminUserRequest: Decodable, Sendable {
    public var email: String?
    public var password: String?
    public var email_confirm: Bool?
    public var user_metadata: JSONValue?
    public var app_metadata: JSONValue?
    /// Go-style duration ("24h", "1h30m") or "none" to lift a ban.
    public var ban_duration: String?
}

/// Which sessions `POST /logout` ends.
public enum LogoutScope: String, Sendable {
    case global, local, others
}

/// `POST /recover` (`gotrue_meta_security`, a captcha token, is accepted and ignored: no captcha here).
public struct RecoverRequest: Decodable, Sendable {
    public var email: String?
}

/// `POST /verify`: `type` with `email` + `token` (the mailed code) or `token_hash` (the link's token).
public struct VerifyRequest: Decodable, Sendable {
    public var type: String?
    public var email: String?
    public var token: String?
    public var token_hash: String?
    public var phone: String?
}

/// `POST /resend`.
public struct ResendRequest: Decodable, Sendable {
    public var type: String?
    public var email: String?
    public var phone: String?
}
