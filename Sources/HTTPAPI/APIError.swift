import DataAPI
import Database
import Hummingbird

/// An error answered to a client as JSON, in the shape its route family expects.
///
/// Handlers throw these; `ErrorMiddleware` renders them. The message is meant for the client,
/// so it never carries SQL, secrets or stack traces.
public struct APIError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var details: String?
    public var hint: String?
    public var headers: HTTPFields
    /// GoTrue's `weak_password.reasons` (`length`, `characters`, `pwned`).
    public var weakPasswordReasons: [String]?

    public init(
        _ status: HTTPResponse.Status, code: String, message: String,
        details: String? = nil, hint: String? = nil, headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
        self.headers = headers
        weakPasswordReasons = nil
    }

    public static func notFound(path: String) -> APIError {
        APIError(.notFound, code: "not_found", message: "no route for \(path)")
    }

    public static func methodNotAllowed(_ method: HTTPRequest.Method, allowed: [HTTPRequest.Method]) -> APIError {
        let allow = allowed.map(\.rawValue).joined(separator: ", ")
        return APIError(
            .methodNotAllowed, code: "method_not_allowed", message: "\(method.rawValue) is not allowed here; use \(allow)",
            headers: [.allow: allow])
    }

    /// A data-API error in PostgREST's shape.
    init(_ error: DataAPIError) {
        self.init(
            HTTPResponse.Status(code: error.status), code: error.code, message: error.message, details: error.details, hint: error.hint)
        // The database away or restarting (503), or no connection free in time (504): worth a retry soon.
        if error.status == 503 || error.status == 504 { headers[.retryAfter] = "\(DatabaseFault.retryAfterSeconds)" }
    }

    /// The database connection was lost under a request outside the data API (auth, sessions):
    /// `503` with `Retry-After`, in the route family's shape.
    static let databaseUnavailable = APIError(
        .serviceUnavailable, code: "service_unavailable", message: "the database is not reachable right now; retry in a moment",
        headers: [.retryAfter: "\(DatabaseFault.retryAfterSeconds)"])

    static let internalError = APIError(
        .internalServerError, code: "internal_error", message: "the server failed to answer this request")
}
