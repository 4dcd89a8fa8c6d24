import AppConfig
import Foundation

/// The OpenAPI 3 description of `/auth/v1` (served at `GET /auth/v1/openapi.json`).
///
/// GoTrue publishes its own as a file; this one is built from the running settings, so the password
/// length it states is the one the server enforces. `AuthOpenAPITests` checks that every route the
/// controller registers is described here, so the two cannot drift apart.
enum AuthOpenAPIDocument {
    static func make(settings: AuthSettings) throws -> Data {
        let email: [String: Any] = ["type": "string", "format": "email", "maxLength": 320]
        let password: [String: Any] = ["type": "string", "minLength": settings.passwordMinLength, "maxLength": 72]
        let metadata: [String: Any] = ["type": "object"]
        let session = response("A session: access_token, refresh_token, expires_in, user")
        let user = response("The user")
        func body(_ properties: [String: Any], required: [String] = []) -> [String: Any] {
            var schema: [String: Any] = ["type": "object", "properties": properties]
            if !required.isEmpty { schema["required"] = required }
            return ["required": true, "content": ["application/json": ["schema": schema]]]
        }
        let redirect: [String: Any] = ["name": "redirect_to", "in": "query", "schema": ["type": "string", "maxLength": 2048]]
        let userID: [String: Any] = ["name": "id", "in": "path", "required": true, "schema": ["type": "string", "format": "uuid"]]
        let paths: [String: Any] = [
            "/health": ["get": operation("Service health", responses: ["200": response("GoTrue's health object")])],
            "/openapi.json": ["get": operation("This document", responses: ["200": response("OpenAPI 3")])],
            "/settings": ["get": operation("Public settings (sign-up, confirmation, password length)", responses: ["200": response("Settings")])],
            "/signup": ["post": operation(
                "Create an account", body: body(["email": email, "password": password, "data": metadata], required: ["email", "password"]),
                responses: ["200": session])],
            "/token": ["post": operation(
                "Sign in (grant_type=password) or refresh a session (grant_type=refresh_token)",
                parameters: [["name": "grant_type", "in": "query", "required": true,
                              "schema": ["type": "string", "enum": ["password", "refresh_token"]]]],
                body: body(["email": email, "password": ["type": "string", "maxLength": 72], "refresh_token": ["type": "string"]]),
                responses: ["200": session])],
            "/user": [
                "get": operation("The signed-in user", responses: ["200": user]),
                "put": operation(
                    "Change the signed-in user's email, password or metadata",
                    body: body(["email": email, "password": password, "data": metadata]), responses: ["200": user]),
            ],
            "/logout": ["post": operation(
                "End this session, all of the user's sessions (global) or the others",
                parameters: [["name": "scope", "in": "query", "schema": ["type": "string", "enum": ["global", "local", "others"]]]],
                responses: ["204": response("Signed out")])],
            "/recover": ["post": operation(
                "Mail a password-recovery code and link (the same answer whether or not the address has an account)",
                parameters: [redirect], body: body(["email": email], required: ["email"]), responses: ["200": response("{}")])],
            "/resend": ["post": operation(
                "Mail a new sign-up confirmation", parameters: [redirect],
                body: body(["type": ["type": "string", "enum": ["signup"]], "email": email], required: ["type", "email"]),
                responses: ["200": response("{}")])],
            "/verify": [
                "post": operation(
                    "Use a mailed code (email + token) or link token (token_hash): a session",
                    body: body([
                        "type": ["type": "string", "enum": ["signup", "email", "recovery"]], "email": email,
                        "token": ["type": "string", "maxLength": 64], "token_hash": ["type": "string", "maxLength": 256],
                    ], required: ["type"]),
                    responses: ["200": session]),
                "get": operation(
                    "The mailed link: verified, then a redirect to the site with the session (or the error) in the fragment",
                    parameters: [
                        ["name": "token", "in": "query", "required": true, "schema": ["type": "string", "maxLength": 256]],
                        ["name": "type", "in": "query", "required": true, "schema": ["type": "string", "enum": ["signup", "email", "recovery"]]],
                        redirect,
                    ],
                    responses: ["303": response("To redirect_to (when on the site) or the site, with #access_token=… or #error=…")]),
            ],
            "/admin/users": [
                "get": operation(
                    "List users (service role)",
                    parameters: [
                        ["name": "page", "in": "query", "schema": ["type": "integer", "minimum": 1, "maximum": 1_000_000]],
                        ["name": "per_page", "in": "query", "schema": ["type": "integer", "minimum": 1, "maximum": 1000]],
                    ],
                    responses: ["200": response("{aud, users}, X-Total-Count and Link headers")]),
                "post": operation("Create a user (service role)", body: body(adminUser(email: email, password: password)), responses: ["200": user]),
            ],
            "/admin/users/{id}": [
                "get": operation("One user (service role)", parameters: [userID], responses: ["200": user]),
                "put": operation(
                    "Change a user: email, password, metadata, ban_duration (service role)", parameters: [userID],
                    body: body(adminUser(email: email, password: password)), responses: ["200": user]),
                "delete": operation("Delete a user and everything they own (service role)", parameters: [userID], responses: ["200": response("{}")]),
            ],
        ]
        let document: [String: Any] = [
            "openapi": "3.0.3",
            "info": ["title": "FeedFusion auth API", "version": "1", "description": "GoTrue-compatible accounts, sessions and JWTs."],
            "paths": paths,
        ]
        return try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    /// The paths described, for the test that compares them with the controller's routes.
    static let paths = [
        "/health", "/settings", "/openapi.json", "/signup", "/token", "/user", "/logout", "/recover", "/resend", "/verify", "/admin/users",
        "/admin/users/{id}",
    ]

    private static func adminUser(email: [String: Any], password: [String: Any]) -> [String: Any] {
        [
            "email": email, "password": password, "email_confirm": ["type": "boolean"],
            "user_metadata": ["type": "object"], "app_metadata": ["type": "object"],
            // Go's duration syntax ("24h", "1h30m") or "none" to lift a ban.
            "ban_duration": ["type": "string", "pattern": #"^(none|([0-9]+(\.[0-9]+)?(h|m|s))+)$"#],
        ]
    }

    private static func response(_ description: String) -> [String: Any] { ["description": description] }

    private static func operation(
        _ summary: String, parameters: [[String: Any]] = [], body: [String: Any]? = nil, responses: [String: Any]
    ) -> [String: Any] {
        var operation: [String: Any] = ["summary": summary, "tags": ["auth"], "responses": responses]
        if !parameters.isEmpty { operation["parameters"] = parameters }
        if let body { operation["requestBody"] = body }
        return operation
    }
}
