import Foundation
import HTTPTypes
import Hummingbird

/// Largest JSON body the API reads; beyond it the answer is 413.
let maximumJSONBodySize = 64 * 1024

extension Request {
    /// Decodes the JSON body into `T`, or throws an `APIError` (400 for malformed JSON or wrong
    /// types, 413 when too large) with `code` and a message that names the offending field.
    func decodeJSON<T: Decodable>(as type: T.Type, code: String, emptyMeansEmptyObject: Bool = true) async throws -> T {
        var buffer = try await body.collect(upTo: maximumJSONBodySize)
        var bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) && emptyMeansEmptyObject {
            bytes = Array("{}".utf8)
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw APIError(.badRequest, code: code, message: Self.describe(error))
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let names = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return names.isEmpty ? "the body" : names.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(let type, let context): return "\(path(context)) must be \(describe(type))"
        case .valueNotFound(let type, let context): return "\(path(context)) must be \(describe(type))"
        case .keyNotFound(let key, _): return "\(key.stringValue) is required"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "the body is not valid JSON" : "\(path(context)) is not valid"
        @unknown default: return "the body could not be read"
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type, is String?.Type: "a string"
        case is Bool.Type, is Bool?.Type: "true or false"
        case is Int.Type, is Double.Type: "a number"
        case is [String: Any].Type: "a JSON object"
        default: "a JSON object"
        }
    }
}

extension HTTPField.Name {
    static let apikey = HTTPField.Name("apikey")!
    static let supabaseAPIVersion = HTTPField.Name("X-Supabase-Api-Version")!
    static let xTotalCount = HTTPField.Name("X-Total-Count")!
    static let link = HTTPField.Name("Link")!
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let forwarded = HTTPField.Name("Forwarded")!
    static let rateLimit = HTTPField.Name("RateLimit")!
    static let rateLimitPolicy = HTTPField.Name("RateLimit-Policy")!
    static let xRateLimitLimit = HTTPField.Name("X-RateLimit-Limit")!
    static let xRateLimitRemaining = HTTPField.Name("X-RateLimit-Remaining")!
    static let xRateLimitReset = HTTPField.Name("X-RateLimit-Reset")!
}

/// A JSON response from bytes the service (or PostgreSQL) already produced.
func jsonResponse(bytes: some Collection<UInt8>, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
    var headers = headers
    headers[.contentType] = "application/json; charset=utf-8"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
}
