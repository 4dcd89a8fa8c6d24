import Auth
import Foundation
import HTTPTypes
import Hummingbird
import WebApp
import WebAssets

/// `/`: the social app in the browser (issue 21). The shell and its scripts are static files; the
/// scripts talk to `/auth/v1`, `/rest/v1` and `/realtime/v1` as a Supabase client does (the same
/// headers and shapes), and keep the session's refresh token in an HttpOnly cookie through
/// `/app/session` rather than in `localStorage`.
struct WebAppController {
    let files: ShippedFiles
    let auth: AuthService
    /// The sign-in limit (`/auth/v1`'s policy) on the session endpoints.
    var sessionLimit: RateLimitMiddleware?
    var realtime: Bool

    func addRoutes(to router: Router<AppRequestContext>) {
        let pages = router.group().add(middleware: PageSecurityHeadersMiddleware())
        for route in WebAppAssets.routes {
            pages.get(RouterPath(route)) { request, _ in try files.response("index.html", request) }
        }
        let app = router.group("/app").add(middleware: PageSecurityHeadersMiddleware())
        app.get("/assets/:file") { request, context in
            guard let name = context.parameters.get("file"), name != "index.html" else { throw APIError.notFound(path: request.uri.path) }
            return try files.response(name, request)
        }
        app.get("/config") { _, _ in try await config() }
        BrowserSession(
            cookie: .app, auth: auth, signInFirst: "Sign in first.", sessionEnded: "Your session ended; sign in again."
        ).addRoutes(to: app.group("/session").add(optional: sessionLimit), passwords: false)
    }

    struct Config: Encodable {
        struct Password: Encodable {
            let min_length: Int
            let required_characters: [String]
            let max_bytes: Int
        }
        /// The public key every Supabase client sends as `apikey` (it grants the `anon` role only).
        let anon_key: String
        let password: Password
        let signups: Bool
        let email_confirmation: Bool
        let realtime: Bool
    }

    /// What the scripts need to know before their first request (never a secret).
    func config() async throws -> Response {
        let policy = auth.passwordPolicy
        let body = Config(
            anon_key: try await auth.tokens.apiKey(role: .anon),
            password: .init(
                min_length: policy.minimumLength, required_characters: policy.requiredClasses.map(\.rawValue),
                max_bytes: PasswordPolicy.maximumBytes),
            signups: !auth.settings.signupsDisabled, email_confirmation: auth.settings.emailConfirmationRequired,
            realtime: realtime)
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(body))))
    }
}
