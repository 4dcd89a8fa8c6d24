import Logging
import PostgresNIO

extension PostgresClient {
    /// Runs `body` in one transaction as `caller`, so that Row Level Security decides what it sees.
    ///
    /// As PostgREST does: `set_config('role', …, true)` is `SET LOCAL ROLE` with a bound value, and
    /// the claims go to `request.jwt.claims` for the transaction only. Both end with the transaction,
    /// so a pooled connection never carries one caller's identity into the next request.
    /// `readOnly` starts a read-only transaction (for GET and HEAD, as PostgREST does): even a
    /// function with side effects called there cannot write.
    public func withCaller<Result: Sendable>(
        _ caller: Caller,
        readOnly: Bool = false,
        logger: Logger,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withConnection { connection in
            try await connection.query(readOnly ? "BEGIN READ ONLY" : "BEGIN", logger: logger)
            do {
                try await connection.query(
                    """
                    SELECT set_config('role', \(caller.role.rawValue), true),
                           set_config('request.jwt.claims', \(caller.claimsJSON), true),
                           set_config('request.jwt.claim.sub', \(caller.userID?.uuidString.lowercased() ?? ""), true),
                           set_config('request.jwt.claim.role', \(caller.role.rawValue), true)
                    """, logger: logger)
                let result = try await body(connection)
                try await connection.query("COMMIT", logger: logger)
                return result
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }
}
