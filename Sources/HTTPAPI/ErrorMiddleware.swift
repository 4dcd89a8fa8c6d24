import Database
import Hummingbird
import Logging
import Observability

/// Turns every error into a JSON answer: `APIError` as it says, the router's own errors
/// (unknown route, body too large…) with their status, no free database connection in time as a
/// 504 (the data API says PGRST003 itself), and anything unexpected as a 500 whose body reveals
/// nothing but the request id — the error itself goes to the error tracker.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let errors: ErrorTracker?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let apiError: APIError
        do {
            return try await next(request, context)
        } catch let error as APIError {
            apiError = error
        } catch let error as any HTTPResponseError {
            // The framework's own refusals: unknown route, body too large, bad request line…
            if error.status == .notFound {
                apiError = .notFound(path: request.uri.path)
            } else if error.status == .contentTooLarge {
                apiError = APIError(.contentTooLarge, code: "request_too_large", message: "the request body is too large")
            } else {
                apiError = APIError(
                    error.status, code: error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"),
                    message: (error as? HTTPError)?.body ?? error.status.reasonPhrase, headers: (error as? HTTPError)?.headers ?? [:])
            }
        } catch let error where DatabaseFault.isConnectionLoss(error) {
            context.logger.notice("request lost its database connection", metadata: ["error": "\(error)"])
            apiError = .databaseUnavailable
        } catch is ConnectionAcquisitionTimeout {
            // GoTrue's code for a request that could not be processed in time; clients may retry.
            apiError = APIError(
                .gatewayTimeout, code: "request_timeout",
                message: "no database connection became free in time; retry in a moment",
                headers: [.retryAfter: "\(DatabaseFault.retryAfterSeconds)"])
        } catch {
            let trace = context.trace.current
            errors?.capture(ErrorEvent(
                errorType: String(reflecting: type(of: error)), message: "unexpected error in a request handler",
                requestID: trace.requestID, route: context.endpointPath, method: request.method.rawValue,
                role: trace.caller.role.rawValue, userID: trace.caller.userID, status: 500,
                context: ["error": String(describing: error), "function": trace.function ?? ""]))
            context.trace.update { $0.errorCaptured = true }
            apiError = .internalError
        }
        let requestID = context.trace.current.requestID
        context.trace.update { $0.errorCode = apiError.code }
        return ErrorBody.response(for: apiError, path: request.uri.path, requestID: apiError.status.code >= 500 ? requestID : nil)
    }
}
