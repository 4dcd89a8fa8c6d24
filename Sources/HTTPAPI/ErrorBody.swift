import Foundation
import HTTPTypes
import Hummingbird

/// The JSON error body for each family of routes, so that each official client parses it:
/// - `/rest/v1`: PostgREST's `{"code","message","details","hint"}` (code always a string);
/// - `/auth/v1`: GoTrue's `{"code","error_code","message","msg"}`, with `X-Supabase-Api-Version`;
/// - everything else: `{"code","message"}`.
enum ErrorBody {
    /// `requestID` goes into 5xx bodies: what an operator needs to find the error, and nothing internal.
    static func response(for error: APIError, path: String, requestID: String? = nil) -> Response {
        var object: [String: Any] = ["code": error.code, "message": error.message]
        if let requestID, !requestID.isEmpty { object["request_id"] = requestID }
        var headers = error.headers
        headers[.contentType] = "application/json; charset=utf-8"
        // An error is about this moment: no cache should repeat it.
        if headers[.cacheControl] == nil { headers[.cacheControl] = "no-store" }
        if path.hasPrefix("/rest/v1") {
            object["details"] = error.details ?? NSNull()
            object["hint"] = error.hint ?? NSNull()
        } else if path.hasPrefix("/auth/v1") {
            object["msg"] = error.message
            object["error_code"] = error.code
            if let reasons = error.weakPasswordReasons {
                object["weak_password"] = ["reasons": reasons]
            }
            headers[HTTPField.Name("X-Supabase-Api-Version")!] = "2024-01-01"
        }
        let body = (try? JSONSerialization.data(
            withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: error.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
