import DataAPI
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
    }

    static let internalError = APIError(
        .internalServerError, code: "internal_error", message: "the server failed to answer this request")
}
