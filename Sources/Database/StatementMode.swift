import Logging
import PostgresNIO
import Synchronization

/// Whether the request path's fixed statements (the caller's settings, a write's COMMIT, the write
/// fence) are prepared once per connection under a name, or sent unnamed every time.
///
/// Named is cheaper (parsed once) and right on a direct connection or a session pooler. Behind a
/// transaction pooler (PgBouncer in `pool_mode = transaction` before 1.21, without
/// `max_prepared_statements`) a name prepared on one server connection is unknown on the next, so
/// `DB_PREPARED_STATEMENTS=false` — or the probe at start-up (`PoolerProbe`) — turns names off.
public enum StatementMode {
    private static let named = Atomic<Bool>(true)

    public static var usesNamedStatements: Bool { named.load(ordering: .relaxed) }

    public static func setNamedStatements(_ on: Bool) { named.store(on, ordering: .relaxed) }
}

extension PostgresConnection {
    /// `statement`, prepared under its name, or sent unnamed when names are off (see `StatementMode`).
    func run<Statement: PostgresPreparedStatement>(_ statement: Statement, logger: Logger) async throws
        -> AsyncThrowingMapSequence<PostgresRowSequence, Statement.Row>
    {
        if StatementMode.usesNamedStatements { return try await execute(statement, logger: logger) }
        let rows = try await query(PostgresQuery(unsafeSQL: Statement.sql, binds: try statement.makeBindings()), logger: logger)
        return rows.map { try statement.decodeRow($0) }
    }
}

/// Which kind of connection pooling sits between this server and PostgreSQL on a pool's
/// connections, found by behaviour rather than by asking (a pooler answers SQL as the server does).
public enum Pooling: String, Sendable, Codable {
    /// Each of our connections keeps its own server session (direct, or a session pooler).
    case session
    /// Our connections share server sessions between transactions (PgBouncer `pool_mode = transaction`
    /// or `statement`): no session state, no named statements, no LISTEN on them.
    case transaction
}

public enum PoolerProbe {
    /// Two of the pool's connections at once: the first ends a transaction, the second begins one.
    /// Directly, or through a session pooler, they are two server sessions (two backend pids); a
    /// transaction pooler hands the second the session the first just gave back (PgBouncer reuses the
    /// most recent idle one by default). A few rounds, so one busy moment does not hide it.
    public static func detect(_ client: PostgresClient, logger: Logger, rounds: Int = 3) async throws -> Pooling {
        for _ in 0..<rounds {
            let shared = try await client.withConnection { first in
                try await client.withConnection { second in
                    let before = try await backend(first, logger)
                    _ = try await second.query("BEGIN", logger: logger)
                    let during = try await backend(second, logger)
                    _ = try await second.query("COMMIT", logger: logger)
                    return before == during
                }
            }
            if shared { return .transaction }
        }
        return .session
    }

    static func backend(_ connection: PostgresConnection, _ logger: Logger) async throws -> Int32 {
        try await connection.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self).first { _ in true } ?? -1
    }
}
