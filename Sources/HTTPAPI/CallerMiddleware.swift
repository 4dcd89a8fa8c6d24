import Auth
import Database
import Hummingbird

/// Decides who a data-API request runs as: the verified bearer JWT's role (or the `apikey`'s),
/// `anon` without either. A bad token is refused with PostgREST's `401 PGRST301`, never
/// downgraded to `anon`.
struct CallerMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let callers: CallerResolver

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if context.callerVerified { return try await next(request, context) }
        var context = context
        do {
            context.caller = try await callers.caller(
                authorization: request.headers[.authorization], apikey: request.headers[.apikey])
        } catch {
            if error == .sessionUnverifiable {
                throw APIError(
                    .serviceUnavailable, code: "PGRST000", message: error.description,
                    headers: [.retryAfter: "\(DatabaseFault.retryAfterSeconds)"])
            }
            throw APIError(
                .unauthorized, code: "PGRST301", message: error.description,
                headers: [.wwwAuthenticate: #"Bearer error="invalid_token""#])
        }
        return try await next(request, context)
    }
}
