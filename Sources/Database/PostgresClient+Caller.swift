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
    ///
    /// `settings` are further transaction-local settings, such as PostgREST's `request.method`,
    /// `request.path`, `request.headers` and a per-role `statement_timeout`.
    public func withCaller<Result: Sendable>(
        _ caller: Caller,
        readOnly: Bool = false,
        settings: [(name: String, value: String)] = [],
        logger: Logger,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        var all: [(name: String, value: String)] = [
            ("role", caller.role.rawValue),
            ("request.jwt.claims", caller.claimsJSON),
            ("request.jwt.claim.sub", caller.userID?.uuidString.lowercased() ?? ""),
            ("request.jwt.claim.role", caller.role.rawValue),
        ]
        all += settings
        var binds = PostgresBindings()
        var calls: [String] = []
        for (index, setting) in all.enumerated() {
            binds.append(setting.name)
            binds.append(setting.value)
            calls.append("set_config($\(index * 2 + 1), $\(index * 2 + 2), true)")
        }
        let setup = PostgresQuery(unsafeSQL: "SELECT " + calls.joined(separator: ", "), binds: binds)
        return try await withConnection { connection in
            try await connection.query(readOnly ? "BEGIN READ ONLY" : "BEGIN", logger: logger)
            do {
                try await connection.query(setup, logger: logger)
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
