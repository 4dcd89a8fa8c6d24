import Auth
import Database
import Foundation
import Hummingbird
import Realtime

/// `/realtime/v1/api/broadcast`: broadcasts over HTTP, in both forms the clients send —
/// `POST /api/broadcast/<topic>/events/<event>[?private=true]` with the payload as the body
/// (realtime-py's `http_send`, realtime-js's `httpSend`), and `POST /api/broadcast` with
/// `{"messages": [{topic, event, payload, private}]}` (Supabase's REST API). `202 Accepted` with no
/// body; errors as `{"code","message"}`.
struct RealtimeController {
    let realtime: RealtimeEndpoint

    struct Messages: Decodable {
        struct Message: Decodable {
            var topic: String
            var event: String
            var payload: JSONValue?
            var `private`: Bool?
        }
        var messages: [Message]
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("/api/broadcast/:topic/events/:event") { request, context -> Response in
            guard request.headers[.contentType].map({ !$0.lowercased().hasPrefix("application/octet-stream") }) ?? true else {
                throw APIError(
                    .unsupportedMediaType, code: "unsupported_media_type",
                    message: "binary broadcasts are not served; send the payload as JSON (Content-Type: application/json)")
            }
            let payload = try await request.decodeJSON(as: JSONValue.self, code: "invalid_payload", emptyMeansEmptyObject: false)
            let message = RealtimeEndpoint.BroadcastMessage(
                // Path segments come percent-encoded (`user%3A<id>`): the topic is the decoded name.
                topic: context.parameters.get("topic")?.removingPercentEncoding ?? "",
                event: context.parameters.get("event")?.removingPercentEncoding ?? "", payload: payload,
                isPrivate: request.uri.queryParameters.get("private") == "true")
            return try await send([message], as: context.caller)
        }
        group.post("/api/broadcast") { request, context -> Response in
            let body = try await request.decodeJSON(as: Messages.self, code: "invalid_payload", emptyMeansEmptyObject: false)
            guard !body.messages.isEmpty, body.messages.count <= 100 else {
                throw APIError(.badRequest, code: "invalid_payload", message: "messages must hold 1 to 100 messages")
            }
            return try await send(
                body.messages.map {
                    RealtimeEndpoint.BroadcastMessage(
                        topic: $0.topic, event: $0.event, payload: $0.payload ?? .object([:]), isPrivate: $0.private ?? false)
                },
                as: context.caller)
        }
    }

    private func send(_ messages: [RealtimeEndpoint.BroadcastMessage], as caller: Caller) async throws -> Response {
        do {
            _ = try await realtime.broadcast(messages, as: caller)
        } catch {
            switch error {
            case .invalid(let reason): throw APIError(.badRequest, code: "invalid_payload", message: reason)
            case .unauthorized(let reason): throw APIError(.forbidden, code: "unauthorized", message: reason)
            case .unavailable(let reason):
                throw APIError(.serviceUnavailable, code: "service_unavailable", message: reason, headers: [.retryAfter: "1"])
            }
        }
        return Response(status: .accepted, headers: [.cacheControl: "no-store"])
    }
}
