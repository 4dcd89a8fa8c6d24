import Crypto
import Database
import Foundation
import Logging
import PostgresNIO

/// One unexpected error: a 5xx answer, an error thrown in a handler, a failed background job.
public struct ErrorEvent: Sendable {
    public var id = UUID()
    public var createdAt = Date()
    public var errorType: String
    public var message: String
    public var requestID: String?
    /// The route template (`/rest/v1/rpc/:function`), or the background job's name.
    public var route: String?
    public var method: String?
    public var role: String?
    public var userID: UUID?
    public var status: Int?
    /// Whatever helps to find the cause: the function called, the error's full description…
    public var context: [String: String]

    public init(
        errorType: String, message: String, requestID: String? = nil, route: String? = nil, method: String? = nil,
        role: String? = nil, userID: UUID? = nil, status: Int? = nil, context: [String: String] = [:]
    ) {
        self.errorType = errorType
        self.message = message
        self.requestID = requestID
        self.route = route
        self.method = method
        self.role = role
        self.userID = userID
        self.status = status
        self.context = context
    }

    /// Errors of one kind at one place share a fingerprint: the type, the route, and the message
    /// with its numbers and ids blanked (so "timeout after 5012 ms" and "… 5230 ms" group together).
    public var fingerprint: String {
        let shape = message.replacing(#/[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}|[0-9]+/#, with: "#")
        let key = [errorType, route ?? "", method ?? "", shape].joined(separator: "\u{1F}")
        return SHA256.hash(data: Data(key.utf8)).prefix(8).hexEncoded
    }
}

extension ErrorEvent {
    /// Writes a batch to `error_events` as the service role (one statement per event: errors are few).
    public static func insert(_ batch: [ErrorEvent], client: PostgresClient, logger: Logger) async throws {
        try await client.withCaller(.serviceRole, logger: logger) { connection in
            for event in batch {
                let context = String(decoding: try JSONEncoder().encode(event.context), as: UTF8.self)
                try await connection.query("""
                    INSERT INTO public.error_events
                        (created_at, fingerprint, error_type, message, request_id, route, method, role, user_id, status, context)
                    VALUES (\(event.createdAt), \(event.fingerprint), \(event.errorType), \(event.message), \(event.requestID),
                            \(event.route), \(event.method), \(event.role), \(event.userID), \(event.status.map { Int16(clamping: $0) }),
                            \(context)::jsonb)
                    """, logger: logger)
            }
        }
    }
}
