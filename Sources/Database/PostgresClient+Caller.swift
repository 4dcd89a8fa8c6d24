import Logging
import Synchronization
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
    ///
    /// The three statements around `body` are prepared once per connection (they run on every
    /// request; parsing and planning them each time cost the database more than a point query).
    ///
    /// When no connection is free within `acquisitionTimeout` (all busy, or the database away and
    /// the pool retrying), it throws ``ConnectionAcquisitionTimeout`` instead of waiting on.
    ///
    /// With `admission`, the transaction first waits for its turn there (a possible write before
    /// every read: ``PoolAdmission``), within the same deadline.
    public func withCaller<Result: Sendable>(
        _ caller: Caller,
        readOnly: Bool = false,
        settings: [(name: String, value: String)] = [],
        acquisitionTimeout: Duration = PostgresClient.defaultAcquisitionTimeout,
        admission: PoolAdmission? = nil,
        logger: Logger,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        // A pooled connection can be dead before the pool knows it (PostgreSQL restarted while it
        // sat idle). A transaction that lost its connection before `body` ran sent nothing that can
        // commit, read or write: it starts again on another connection, within a new deadline.
        // The pool may lend the same dead connection again before it has seen it close: a few tries,
        // a moment apart, and while PostgreSQL is away (a restart, a failover to the replica) for up
        // to `DatabaseFault.reconnectWindow` in all, the pauses growing.
        do {
            return try await DatabaseFault.retrying(while: { $0 is LostBeforeBody }, willRetry: { _, _ in RequestStage.mark("reconnecting") }) {
                try await withAcquisitionDeadline(acquisitionTimeout) { acquired in
                    guard let admission else {
                        return try await self.runAsCaller(caller, readOnly: readOnly, settings: settings, logger: logger, onLease: acquired, body)
                    }
                    RequestStage.mark("waiting for its turn at the pool")
                    return try await admission.withPermit(write: !readOnly) {
                        try await self.runAsCaller(caller, readOnly: readOnly, settings: settings, logger: logger, onLease: acquired, body)
                    }
                }
            }
        } catch let error as LostBeforeBody {
            throw error.underlying
        }
    }

    /// `onLease` runs first thing with the connection in hand, before any statement.
    private func runAsCaller<Result: Sendable>(
        _ caller: Caller,
        readOnly: Bool,
        settings: [(name: String, value: String)],
        logger: Logger,
        onLease: () throws -> Void,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        var names = ["role", "request.jwt.claims", "request.jwt.claim.sub", "request.jwt.claim.role"]
        var values = [caller.role.rawValue, caller.claimsJSON, caller.userID?.uuidString.lowercased() ?? "", caller.role.rawValue]
        for setting in settings {
            names.append(setting.name)
            values.append(setting.value)
        }
        let usage = PoolUsage.shared
        RequestStage.mark("waiting for a database connection")
        usage.startWaiting()
        var acquired = false
        defer { if !acquired { usage.stopWaiting() } }
        return try await withConnection { connection in
            usage.acquired()
            acquired = true
            defer { usage.released() }
            try onLease()
            let bodyStarted = BodyStarted()
            do {
                return try await untilConnectionLost(connection) { [names, values] in
                    try await Self.transaction(
                        on: connection, readOnly: readOnly, names: names, values: values, logger: logger, bodyStarted: bodyStarted, body)
                }
            } catch where !(error is LostBeforeBody) && DatabaseFault.isConnectionLoss(error) && !bodyStarted.value {
                // The loss seen by the guard (the pool lent a connection that was closing) rather than by
                // a statement: nothing of the body was sent either.
                throw LostBeforeBody(underlying: error)
            }
        }
    }

    /// BEGIN, the caller's settings, `body`, COMMIT (ROLLBACK when `body` fails on a live connection).
    private static func transaction<Result: Sendable>(
        on connection: PostgresConnection, readOnly: Bool, names: [String], values: [String], logger: Logger,
        bodyStarted: BodyStarted, _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        do {
            RequestStage.mark("BEGIN")
            try connection.ensureOpen()
            if readOnly {
                for try await _ in try await connection.run(BeginReadOnly(), logger: logger) {}
            } else {
                for try await _ in try await connection.run(Begin(), logger: logger) {}
            }
        } catch where DatabaseFault.isConnectionLoss(error) {
            throw LostBeforeBody(underlying: error)
        }
        do {
            RequestStage.mark("transaction settings")
            do {
                try connection.ensureOpen()
                for try await _ in try await connection.run(SetLocalSettings(names: names, values: values), logger: logger) {}
            } catch where DatabaseFault.isConnectionLoss(error) {
                throw LostBeforeBody(underlying: error)
            }
            RequestStage.mark("query")
            try connection.ensureOpen()
            bodyStarted.set()
            let result = try await body(connection)
            RequestStage.mark("COMMIT")
            try connection.ensureOpen()
            for try await _ in try await connection.run(Commit(), logger: logger) {}
            RequestStage.mark("committed")
            return result
        } catch {
            // A dead connection has nothing to roll back (PostgreSQL ended the transaction with it),
            // and a statement sent on it could wait forever (see `ensureOpen`).
            if !DatabaseFault.isConnectionLoss(error), !connection.isClosed {
                RequestStage.mark("ROLLBACK after \(String(reflecting: type(of: error)))")
                _ = try? await connection.query("ROLLBACK", logger: logger)
            }
            throw error
        }
    }
}

/// Transaction-local settings by name, all in one statement whatever their number.
struct SetLocalSettings: PostgresPreparedStatement {
    static let name = "feedfusion_set_local_settings"
    static let sql = "SELECT count(set_config(name, value, true)) FROM unnest($1::text[], $2::text[]) AS s(name, value)"
    typealias Row = Int

    let names: [String]
    let values: [String]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(names)
        bindings.append(values)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int { try row.decode(Int.self) }
}

/// A statement without parameters or rows, prepared under a fixed name.
protocol FixedStatement: PostgresPreparedStatement where Row == () {}

extension FixedStatement {
    func makeBindings() throws -> PostgresBindings { PostgresBindings() }
    func decodeRow(_ row: PostgresRow) throws {}
}

struct Begin: FixedStatement {
    static let name = "feedfusion_begin"
    static let sql = "BEGIN"
}

struct BeginReadOnly: FixedStatement {
    static let name = "feedfusion_begin_read_only"
    static let sql = "BEGIN READ ONLY"
}

struct Commit: FixedStatement {
    static let name = "feedfusion_commit"
    static let sql = "COMMIT"
}

/// The connection was lost before the transaction's `body` ran: nothing was done, so it may start again.
/// Whether a transaction's body has begun (past that, a lost connection may have run some of it).
final class BodyStarted: Sendable {
    private let started = Mutex(false)
    var value: Bool { started.withLock { $0 } }
    func set() { started.withLock { $0 = true } }
}

struct LostBeforeBody: Error {
    let underlying: any Error
}

/// The connection closed under a request (the server ended it, or the socket broke).
public struct DatabaseConnectionLost: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "the database connection was closed" }
}

extension PostgresConnection {
    /// Throws ``DatabaseConnectionLost`` when the connection is already closed. PostgresNIO hands a
    /// statement to the channel without a write promise: on a channel already closed and torn
    /// down the statement is dropped and its result never comes, so the request would wait
    /// forever (the hang behind a PostgreSQL restart followed by SIGTERM, issue 23). Checking right
    /// before each statement narrows that to the instant between the check and the write: the
    /// channel drops writes only after it has been torn down, an event-loop turn after it closed.
    public func ensureOpen() throws {
        if isClosed { throw DatabaseConnectionLost() }
    }
}
