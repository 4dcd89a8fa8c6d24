import Hummingbird
import Logging

/// Turns every error into a JSON answer: `APIError` as it says, the router's own errors
/// (unknown route, body too large…) with their status, and anything unexpected as a logged 500
/// whose body reveals nothing.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return ErrorBody.response(for: error, path: request.uri.path)
        } catch let error as any HTTPResponseError {
            // The framework's own refusals: unknown route, body too large, bad request line…
            let apiError: APIError
            if error.status == .notFound {
                apiError = .notFound(path: request.uri.path)
            } else if error.status == .contentTooLarge {
                apiError = APIError(.contentTooLarge, code: "request_too_large", message: "the request body is too large")
            } else {
                apiError = APIError(
                    error.status, code: error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"),
                    message: (error as? HTTPError)?.body ?? error.status.reasonPhrase, headers: (error as? HTTPError)?.headers ?? [:])
            }
            return ErrorBody.response(for: apiError, path: request.uri.path)
        } catch {
            context.logger.error(
                "request failed", metadata: ["error": "\(String(reflecting: type(of: error)))", "path": "\(request.uri.path)"])
            return ErrorBody.response(for: .internalError, path: request.uri.path)
        }
    }
}
