/// Settings of the GoTrue-compatible auth service.
public struct AuthSettings: Sendable {
    /// Character classes a password can be required to contain.
    public enum CharacterClass: String, Sendable, CaseIterable {
        case lower, upper, digit, symbol
    }

    /// Public base URL of this server, as clients reach it; the JWT issuer is `<externalURL>/auth/v1`.
    public var externalURL: String?
    /// Lifetime of access tokens, in seconds.
    public var accessTokenLifetime: Int = 3600
    /// bcrypt work factor.
    public var bcryptCost: Int = 10
    public var passwordMinLength: Int = 8
    public var passwordRequiredCharacters: [CharacterClass] = []
    /// Refuse every sign-up (admins can still create users).
    public var signupsDisabled: Bool = false
    /// Require a confirmed email before password sign-in (off: there is no mail server by default).
    public var emailConfirmationRequired: Bool = false
    /// Failed password sign-ins allowed per account within `failedSignInWindowSeconds`.
    public var failedSignInLimit: Int = 10
    public var failedSignInWindowSeconds: Int = 900
    /// How long a just-rotated refresh token may be presented again and answer the same successor.
    public var refreshTokenReuseInterval: Int = 10

    public init() {}
}

extension AuthSettings {
    init(reader: SettingsReader) throws {
        self.init()
        externalURL = try reader.string("API_EXTERNAL_URL").map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        accessTokenLifetime = try reader.integer("JWT_EXPIRY", in: 1...604_800) ?? accessTokenLifetime
        bcryptCost = try reader.integer("BCRYPT_COST", in: 4...16) ?? bcryptCost
        passwordMinLength = try reader.integer("PASSWORD_MIN_LENGTH", in: 6...72) ?? passwordMinLength
        if let raw = try reader.string("PASSWORD_REQUIRED_CHARACTERS") {
            passwordRequiredCharacters = try raw.split(separator: ",").map { part in
                let name = part.trimmingCharacters(in: .whitespaces).lowercased()
                guard let characterClass = CharacterClass(rawValue: name) else {
                    throw SettingsError(
                        setting: "PASSWORD_REQUIRED_CHARACTERS", problem: "'\(name)' is not one of lower, upper, digit, symbol")
                }
                return characterClass
            }
        }
        signupsDisabled = try reader.boolean("DISABLE_SIGNUP") ?? signupsDisabled
        emailConfirmationRequired = try reader.boolean("EMAIL_CONFIRMATION_REQUIRED") ?? emailConfirmationRequired
        failedSignInLimit = try reader.integer("SIGNIN_FAILURE_LIMIT", in: 1...10_000) ?? failedSignInLimit
        failedSignInWindowSeconds = try reader.integer("SIGNIN_FAILURE_WINDOW_SECONDS", in: 1...86_400) ?? failedSignInWindowSeconds
        refreshTokenReuseInterval = try reader.integer("REFRESH_TOKEN_REUSE_INTERVAL", in: 0...3600) ?? refreshTokenReuseInterval
    }
}
