import Auth
import Foundation
import HTTPTypes
import Hummingbird
import WebAssets

/// The session endpoints of a page served by this server (the dashboard, the app): the refresh token
/// lives in an HttpOnly cookie, the page holds only a short-lived access token in memory and asks
/// here for a fresh one. Sign-in by password (the dashboard), or by handing over a session the page
/// just got from `/auth/v1` (the app, which signs up and in exactly as a Supabase client does: the
/// handed-over refresh token is used up here, so what the page saw is worthless afterwards).
struct BrowserSession: Sendable {
    let cookie: SessionCookie
    let auth: AuthService
    /// Refuses a session the page may not have (the dashboard: not an admin), with what to say.
    var admit: @Sendable (_ accessToken: String) async throws -> APIError? = { _ in nil }
    /// What a 401 says: signed out, or the session ended.
    var signInFirst = "Sign in first."
    var sessionEnded = "The session ended; sign in again."
    /// How long the cookie lives: as long as a refresh token may go unused. The pages rotate it
    /// every few minutes while open.
    var maxAge = 7 * 24 * 3600

    struct SignedIn: Encodable {
        let access_token: String
        let expires_in: Int
        let user: JSONValue
    }

    struct HandOver: Decodable {
        let refresh_token: String
    }

    /// `POST <path>` (email and password, when `passwords`; else a session's refresh token),
    /// `POST <path>/refresh`, `POST <path>/sign-out`.
    func addRoutes(to group: RouterGroup<AppRequestContext>, passwords: Bool) {
        group.post("/") { request, _ in
            try requireSameOrigin(request)
            if passwords {
                let body = try await request.decodeJSON(as: PasswordGrantRequest.self, code: "validation_failed", emptyMeansEmptyObject: false)
                return try await start(request) { try await auth.signIn(body) }
            }
            let body = try await request.decodeJSON(as: HandOver.self, code: "validation_failed", emptyMeansEmptyObject: false)
            return try await start(request) { try await auth.refresh(grant(body.refresh_token)) }
        }
        group.post("/refresh") { request, _ in try await refresh(request) }
        group.post("/sign-out") { request, _ in try await signOut(request) }
    }

    func grant(_ refreshToken: String) throws -> RefreshGrantRequest {
        try JSONDecoder().decode(RefreshGrantRequest.self, from: JSONEncoder().encode(["refresh_token": refreshToken]))
    }

    func start(_ request: Request, _ signIn: () async throws -> AuthSession) async throws -> Response {
        let session: AuthSession
        do {
            session = try await signIn()
        } catch let error as AuthError {
            throw APIError(HTTPResponse.Status(code: error.status), code: error.code, message: error.message)
        } catch {
            throw APIError.databaseUnavailable
        }
        if let refusal = try await admit(session.accessToken) {
            try? await auth.logout(accessToken: session.accessToken, scope: .local)
            throw refusal
        }
        return try signedIn(session, request)
    }

    /// The cookie's refresh token → a fresh access token (and a rotated cookie). No cookie, a used or
    /// revoked one, or a session no longer admitted: 401 and the cookie cleared.
    func refresh(_ request: Request) async throws -> Response {
        try requireSameOrigin(request)
        guard let token = cookie.value(in: request.headers[.cookie]) else { throw signedOut(request, signInFirst) }
        let session: AuthSession
        do {
            session = try await auth.refresh(grant(token))
        } catch is AuthError {
            throw signedOut(request, sessionEnded)
        } catch {
            // The database away: the session may well be fine; the page says so and offers a retry.
            throw APIError.databaseUnavailable
        }
        if let refusal = try await admit(session.accessToken) {
            try? await auth.logout(accessToken: session.accessToken, scope: .local)
            throw signedOut(request, refusal.message)
        }
        return try signedIn(session, request)
    }

    /// Ends the session (its refresh token and every access token of it) and clears the cookie.
    func signOut(_ request: Request) async throws -> Response {
        try requireSameOrigin(request)
        if let token = request.headers[.authorization].flatMap(bearerCredentials)?.trimmingSpaces {
            try? await auth.logout(accessToken: token, scope: .local)
        }
        return Response(status: .noContent, headers: [.setCookie: cookie.clear(secure: isHTTPS(request))])
    }

    func signedIn(_ session: AuthSession, _ request: Request) throws -> Response {
        let user = (try? JSONValue(jsonText: session.userJSON)) ?? .object([:])
        let body = SignedIn(access_token: session.accessToken, expires_in: session.expiresIn, user: user)
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/json; charset=utf-8",
                .setCookie: cookie.set(session.refreshToken, maxAge: maxAge, secure: isHTTPS(request)),
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(body))))
    }

    func signedOut(_ request: Request, _ message: String) -> APIError {
        APIError(.unauthorized, code: "signed_out", message: message, headers: [.setCookie: cookie.clear(secure: isHTTPS(request))])
    }

    /// A state-changing request must come from the pages themselves: their header (which another
    /// site cannot send) and, when the browser says where it comes from, this origin.
    func requireSameOrigin(_ request: Request) throws {
        try Self.requireSameOrigin(request, header: cookie.csrfHeader)
    }

    static func requireSameOrigin(_ request: Request, header: String) throws {
        guard request.headers[HTTPField.Name(header)!] == "1" else {
            throw APIError(.forbidden, code: "csrf", message: "This must come from the server's own pages (\(header): 1).")
        }
        if let origin = request.headers[.origin], let authority = request.head.authority,
            URL(string: origin).map({ url in url.host.map { authority == $0 || authority == "\($0):\(url.port ?? 80)" } ?? false }) != true
        {
            throw APIError(.forbidden, code: "csrf", message: "This must come from the server's own origin.")
        }
    }

    /// Whether the browser reached us over HTTPS: directly, or through a proxy that says so (the
    /// header can only add `Secure` to the cookie, which never weakens it).
    func isHTTPS(_ request: Request) -> Bool {
        if request.head.scheme == "https" { return true }
        return request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
    }
}
