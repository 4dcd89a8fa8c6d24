import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting

/// Talks to `/auth/v1` the way the Supabase clients do: `apikey` on every request, JSON bodies.
struct AuthTestClient {
    struct Reply {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let body: Data

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var code: String? { json["code"] as? String }
        subscript(key: String) -> Any? { json[key] }
    }

    let client: any TestClientProtocol
    let apiKey: String

    func send(
        _ method: HTTPRequest.Method, _ path: String, json: Any? = nil, rawBody: Data? = nil, bearer: String? = nil,
        apiKey: String? = nil, headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = extra
        headers[HTTPField.Name("apikey")!] = apiKey ?? self.apiKey
        headers[.authorization] = "Bearer \(bearer ?? apiKey ?? self.apiKey)"
        headers[.contentType] = "application/json"
        let body = try rawBody ?? json.map { try JSONSerialization.data(withJSONObject: $0) }
        return try await client.execute(
            uri: "/auth/v1" + path, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) }
        ) { response in
            Reply(status: response.status, headers: response.headers, body: Data(response.body.readableBytesView))
        }
    }

    func signUp(_ email: String, _ password: String, data: [String: Any]? = nil) async throws -> Reply {
        var body: [String: Any] = ["email": email, "password": password]
        if let data { body["data"] = data }
        return try await send(.post, "/signup", json: body)
    }

    func signIn(_ email: String, _ password: String) async throws -> Reply {
        try await send(.post, "/token?grant_type=password", json: ["email": email, "password": password])
    }

    func refresh(_ token: String) async throws -> Reply {
        try await send(.post, "/token?grant_type=refresh_token", json: ["refresh_token": token])
    }
}
