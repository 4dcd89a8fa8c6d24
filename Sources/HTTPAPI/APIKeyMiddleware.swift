import Auth
import Database
import Hummingbird

/// Requires a valid project key in `apikey`, as Supabase's gateway does in front of every service.
/// The key is only checked here; the request's role comes from its bearer token.
struct APIKeyMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let callers: CallerResolver
    /// Paths that need no key, such as health checks; `GET /auth/v1/verify` names one method only
    /// (a mailed link, opened by a browser that has no key to send).
    let openPaths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if openPaths.contains(where: { path.hasSuffix($0) || $0 == "\(request.method) \(path)" }) {
            return try await next(request, context)
        }
        guard let key = request.headers[.apikey], !key.isEmpty else {
            throw APIError(.unauthorized, code: "no_api_key", message: "No API key found in request")
        }
        do {
            let caller = try await callers.caller(authorization: nil, apikey: key)
            guard caller.role == .anon || caller.role == .serviceRole else { throw AuthenticationError.invalidToken }
        } catch {
            throw APIError(.unauthorized, code: "invalid_api_key", message: "Invalid API key")
        }
        return try await next(request, context)
    }
}

/// Echoes the API version header GoTrue sends on every answer (the clients read it).
struct SupabaseAPIVersionMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.supabaseAPIVersion] = "2024-01-01"
        return response
    }
}
