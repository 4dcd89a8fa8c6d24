import Auth
import Database
import Foundation
import HTTPTypes
import Hummingbird
import PostgresNIO

/// `/auth/v1`: the GoTrue-compatible API over `AuthService`.
struct AuthController: Sendable {
    let service: AuthService
    let callers: CallerResolver

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.endpoint("/health", [.get: { _, _ in health() }])
        group.endpoint("/settings", [.get: { _, _ in try settings() }])
        group.endpoint("/openapi.json", [.get: { _, _ in
            jsonResponse(bytes: try AuthOpenAPIDocument.make(settings: service.settings))
        }])
        group.endpoint("/signup", [.post: { request, _ in try await signUp(request) }])
        group.endpoint("/token", [.post: { request, _ in try await token(request) }])
        group.endpoint("/user", [
            .get: { request, _ in try await user(request) },
            .put: { request, _ in try await updateUser(request) },
        ])
        group.endpoint("/logout", [.post: { request, _ in try await logout(request) }])
        group.endpoint("/recover", [.post: { request, _ in try await recover(request) }])
        group.endpoint("/resend", [.post: { request, _ in try await resend(request) }])
        group.endpoint("/verify", [
            .get: { request, _ in try await verifyLink(request) },
            .post: { request, _ in try await verify(request) },
        ])
        group.endpoint("/admin/users", [
            .get: { request, _ in try await listUsers(request) },
            .post: { request, _ in try await createUser(request) },
        ])
        group.endpoint("/admin/users/:id", [
            .get: { request, context in try await adminUser(request, context) },
            .put: { request, context in try await adminUpdateUser(request, context) },
            .delete: { request, context in try await adminDeleteUser(request, context) },
        ])
    }

    // MARK: - Public endpoints

    func health() -> Response {
        jsonResponse(bytes: Data(#"{"name":"GoTrue","version":"feedfusion","description":"FeedFusion auth (GoTrue-compatible)"}"#.utf8))
    }

    func settings() throws -> Response {
        let body: [String: Any] = [
            "external": ["email": true, "phone": false, "anonymous_users": false],
            "disable_signup": service.settings.signupsDisabled,
            "mailer_autoconfirm": !service.settings.emailConfirmationRequired,
            "phone_autoconfirm": false,
            "sms_provider": "",
            "saml_enabled": false,
            "password_min_length": service.settings.passwordMinLength,
        ]
        return jsonResponse(bytes: try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]))
    }

    func signUp(_ request: Request) async throws -> Response {
        var body = try await request.decodeJSON(as: SignUpRequest.self, code: "validation_failed")
        body.redirectTo = request.uri.queryParameters.get("redirect_to")
        switch try await run({ try await service.signUp(body) }) {
        case .session(let session): return jsonResponse(bytes: try session.json())
        case .user(let userJSON): return jsonResponse(bytes: Data(userJSON.utf8))
        }
    }

    func token(_ request: Request) async throws -> Response {
        switch request.uri.queryParameters.get("grant_type") {
        case "password":
            let body = try await request.decodeJSON(as: PasswordGrantRequest.self, code: "validation_failed")
            return jsonResponse(bytes: try await run({ try await service.signIn(body) }).json())
        case "refresh_token":
            let body = try await request.decodeJSON(as: RefreshGrantRequest.self, code: "validation_failed")
            return jsonResponse(bytes: try await run({ try await service.refresh(body) }).json())
        case let other:
            throw Self.apiError(.validationFailed("unsupported grant_type '\(other ?? "")': use password or refresh_token"))
        }
    }

    // MARK: - Mailed codes and links

    func recover(_ request: Request) async throws -> Response {
        let body = try await request.decodeJSON(as: RecoverRequest.self, code: "validation_failed")
        let redirect = request.uri.queryParameters.get("redirect_to")
        try await run({ try await service.recover(email: body.email, redirectTo: redirect) })
        return jsonResponse(bytes: Data("{}".utf8))
    }

    func resend(_ request: Request) async throws -> Response {
        let body = try await request.decodeJSON(as: ResendRequest.self, code: "validation_failed")
        let redirect = request.uri.queryParameters.get("redirect_to")
        try await run({ try await service.resend(type: body.type, email: body.email, redirectTo: redirect) })
        return jsonResponse(bytes: Data("{}".utf8))
    }

    func verify(_ request: Request) async throws -> Response {
        let body = try await request.decodeJSON(as: VerifyRequest.self, code: "validation_failed")
        let session = try await run({
            try await service.verify(
                kind: try AuthService.OneTimeKind(verifyType: body.type), email: body.email, code: body.token, linkToken: body.token_hash)
        })
        return jsonResponse(bytes: try session.json())
    }

    /// The mailed link: verified, then the browser is sent on to the site with the session in the
    /// URL's fragment (never sent to a server), as GoTrue's implicit flow does; or with the error.
    func verifyLink(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let target = service.allowedRedirect(query.get("redirect_to"))
        var fragment: [(String, String)]
        do {
            let type = query.get("type")
            let session = try await service.verify(
                kind: try AuthService.OneTimeKind(verifyType: type), email: nil, code: nil,
                linkToken: query.get("token") ?? "")
            fragment = [
                ("access_token", session.accessToken), ("expires_at", String(session.expiresAt)),
                ("expires_in", String(session.expiresIn)), ("refresh_token", session.refreshToken), ("token_type", "bearer"),
                ("type", type ?? ""),
            ]
        } catch let error as AuthError {
            fragment = [
                ("error", error.status == 403 ? "access_denied" : "invalid_request"), ("error_code", error.code),
                ("error_description", error.status == 403 ? "Email link is invalid or has expired" : error.message),
            ]
        }
        let location = target + "#" + AuthService.formEncoded(fragment)
        return Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store", .referrerPolicy: "no-referrer"])
    }

    // MARK: - The signed-in user

    func user(_ request: Request) async throws -> Response {
        let token = try bearerToken(request)
        return jsonResponse(bytes: Data(try await run({ try await service.user(accessToken: token) }).utf8))
    }

    func updateUser(_ request: Request) async throws -> Response {
        let token = try bearerToken(request)
        let body = try await request.decodeJSON(as: UserUpdateRequest.self, code: "validation_failed")
        return jsonResponse(bytes: Data(try await run({ try await service.updateUser(accessToken: token, body) }).utf8))
    }

    func logout(_ request: Request) async throws -> Response {
        let token = try bearerToken(request)
        let scopeName = request.uri.queryParameters.get("scope") ?? "global"
        guard let scope = LogoutScope(rawValue: scopeName) else {
            throw Self.apiError(.validationFailed("scope must be global, local or others"))
        }
        try await run({ try await service.logout(accessToken: token, scope: scope) })
        return Response(status: .noContent)
    }

    // MARK: - Admin API (service-role key)

    func listUsers(_ request: Request) async throws -> Response {
        try await requireServiceRole(request)
        let page = request.uri.queryParameters.get("page").map { Int($0) ?? 0 } ?? 1
        let perPage = request.uri.queryParameters.get("per_page").map { Int($0) ?? 0 } ?? 50
        let result = try await run({ try await service.listUsers(page: page, perPage: perPage) })
        var headers: HTTPFields = [.xTotalCount: "\(result.total)"]
        let lastPage = max(1, (result.total + perPage - 1) / perPage)
        var links: [String] = []
        if page < lastPage { links.append("</admin/users?page=\(page + 1)&per_page=\(perPage)>; rel=\"next\"") }
        links.append("</admin/users?page=\(lastPage)&per_page=\(perPage)>; rel=\"last\"")
        headers[.link] = links.joined(separator: ", ")
        return jsonResponse(bytes: Data(#"{"aud":"authenticated","users":\#(result.usersJSON)}"#.utf8), headers: headers)
    }

    func createUser(_ request: Request) async throws -> Response {
        try await requireServiceRole(request)
        let body = try await request.decodeJSON(as: AdminUserRequest.self, code: "validation_failed")
        return jsonResponse(bytes: Data(try await run({ try await service.adminCreateUser(body) }).utf8))
    }

    func adminUser(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        try await requireServiceRole(request)
        let id = try userID(context)
        return jsonResponse(bytes: Data(try await run({ try await service.adminUser(id: id) }).utf8))
    }

    func adminUpdateUser(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        try await requireServiceRole(request)
        let id = try userID(context)
        let body = try await request.decodeJSON(as: AdminUserRequest.self, code: "validation_failed")
        return jsonResponse(bytes: Data(try await run({ try await service.adminUpdateUser(id: id, body) }).utf8))
    }

    func adminDeleteUser(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        try await requireServiceRole(request)
        let id = try userID(context)
        try await run({ try await service.adminDeleteUser(id: id) })
        return jsonResponse(bytes: Data("{}".utf8))
    }

    // MARK: - Helpers

    func bearerToken(_ request: Request) throws -> String {
        guard let header = request.headers[.authorization] else { throw Self.apiError(.noAuthorization) }
        guard let token = bearerCredentials(header) else {
            throw Self.apiError(.badJWT("Authorization header must be 'Bearer <token>'"))
        }
        return String(token)
    }

    func requireServiceRole(_ request: Request) async throws {
        let token = try bearerToken(request)
        let caller: Caller
        do {
            caller = try await callers.caller(authorization: "Bearer \(token)", apikey: nil)
        } catch {
            throw Self.apiError(.badJWT("invalid JWT: \(error)"))
        }
        guard caller.role == .serviceRole else { throw Self.apiError(.notAdmin) }
    }

    func userID(_ context: AppRequestContext) throws -> UUID {
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw Self.apiError(AuthError(status: 404, code: "user_not_found", message: "User not found"))
        }
        return id
    }

    /// Runs a service call, turning its `AuthError` into the GoTrue-shaped `APIError`.
    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as AuthError {
            throw Self.apiError(error)
        } catch let error as PSQLError where error.serverInfo?[.sqlState]?.hasPrefix("22") == true {
            // A data exception (class 22) is about the input: a value PostgreSQL cannot hold
            // (NUL, an impossible date). Whatever the service did not check first is still a 400.
            throw Self.apiError(.validationFailed("invalid input: \(error.serverInfo?[.message] ?? "a value the database refused")"))
        }
    }

    static func apiError(_ error: AuthError) -> APIError {
        var apiError = APIError(HTTPResponse.Status(code: error.status), code: error.code, message: error.message)
        apiError.weakPasswordReasons = error.weakPasswordReasons
        return apiError
    }
}
