/// A refusal of the auth service, with the GoTrue error code the Supabase clients map to types.
public struct AuthError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let message: String
    /// For `weak_password`: which rules the password broke (`length`, `characters`, `pwned`).
    public let weakPasswordReasons: [String]?

    public init(status: Int, code: String, message: String, weakPasswordReasons: [String]? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.weakPasswordReasons = weakPasswordReasons
    }

    public var description: String { "\(status) \(code): \(message)" }

    public static let invalidCredentials = AuthError(status: 400, code: "invalid_credentials", message: "Invalid login credentials")
    public static let userAlreadyExists = AuthError(status: 422, code: "user_already_exists", message: "User already registered")
    public static let emailExists = AuthError(
        status: 422, code: "email_exists", message: "A user with this email address has already been registered")
    public static let anonymousDisabled = AuthError(
        status: 422, code: "anonymous_provider_disabled", message: "Anonymous sign-ins are disabled")
    public static let signupDisabled = AuthError(status: 422, code: "signup_disabled", message: "Signups not allowed for this instance")
    public static let emailNotConfirmed = AuthError(status: 400, code: "email_not_confirmed", message: "Email not confirmed")
    public static let userBanned = AuthError(status: 400, code: "user_banned", message: "User is banned")
    public static let refreshTokenNotFound = AuthError(
        status: 400, code: "refresh_token_not_found", message: "Invalid Refresh Token: Refresh Token Not Found")
    public static let refreshTokenAlreadyUsed = AuthError(
        status: 400, code: "refresh_token_already_used", message: "Invalid Refresh Token: Already Used")
    public static let sessionNotFound = AuthError(
        status: 403, code: "session_not_found", message: "Session from session_id claim in JWT does not exist")
    public static let userNotFound = AuthError(status: 404, code: "user_not_found", message: "User not found")
    public static let notAdmin = AuthError(status: 403, code: "not_admin", message: "User not allowed")
    public static let noAuthorization = AuthError(
        status: 401, code: "no_authorization", message: "This endpoint requires a Bearer token")
    public static let samePassword = AuthError(
        status: 422, code: "same_password", message: "New password should be different from the old password.")
    public static let overRequestRateLimit = AuthError(
        status: 429, code: "over_request_rate_limit", message: "Request rate limit reached")

    public static func badJWT(_ message: String) -> AuthError {
        AuthError(status: 401, code: "bad_jwt", message: message)
    }

    public static func validationFailed(_ message: String) -> AuthError {
        AuthError(status: 400, code: "validation_failed", message: message)
    }
}
