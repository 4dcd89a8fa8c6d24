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
    /// A transaction's fixed statements cost as few waits as the protocol allows, since under load
    /// a connection's turnover, not its statements, bounds how many requests it serves (measured:
    /// most of a busy backend's time was spent waiting for the server's next statement):
    /// - `BEGIN` is written and the settings right behind it, without waiting for `BEGIN`'s answer;
    ///   `body` is sent only once both have succeeded. The settings statement refuses to set
    ///   anything in a transaction that already has a role (see ``SetLocalSettings``), so it can
    ///   never land in someone else's transaction.
    /// - A read-only transaction's `COMMIT` is written and not waited for: nothing it could report
    ///   changes the answer (a read-only transaction commits nothing), and the connection's next
    ///   statements queue behind it on the same socket.
    /// The settings statement is prepared once per connection (parsing and planning it each time
    /// cost the database more than a point query); `BEGIN` and `COMMIT` parse in microseconds.
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

    /// BEGIN and the caller's settings (one wait for both), `body`, COMMIT (not waited for when
    /// read-only; ROLLBACK when `body` fails on a live connection).
    static func transaction<Result: Sendable>(
        on connection: PostgresConnection, readOnly: Bool, names: [String], values: [String], logger: Logger,
        bodyStarted: BodyStarted, begin: PostgresQuery? = nil, _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        do {
            RequestStage.mark("BEGIN and transaction settings")
            do {
                try connection.ensureOpen()
                // Written to the socket now and answered later (the future-based call does not wait):
                // the settings go right behind it, and both answers come back in one wait.
                let started: EventLoopFuture<PostgresQueryResult> = connection.query(begin ?? (readOnly ? Self.beginReadOnly : Self.beginReadWrite), logger: logger)
                var applied = 0
                for try await count in try await connection.run(SetLocalSettings(names: names, values: values), logger: logger) {
                    applied = count
                }
                _ = try await started.get()
                // Nothing set: the connection was inside a transaction that already had a role (a
                // BEGIN that failed, or one that overtook another's COMMIT). `body` must not run there.
                guard applied == names.count else { throw LostBeforeBody(underlying: TransactionNotFresh()) }
            } catch where DatabaseFault.isConnectionLoss(error) {
                throw LostBeforeBody(underlying: error)
            }
            RequestStage.mark("query")
            try connection.ensureOpen()
            bodyStarted.set()
            let result = try await body(connection)
            if readOnly {
                // A closed connection ended the transaction itself; an open one gets COMMIT queued
                // ahead of whatever the connection's next lessee sends.
                if !connection.isClosed {
                    let committed: EventLoopFuture<PostgresQueryResult> = connection.query(Self.commit, logger: logger)
                    committed.whenFailure { error in
                        logger.debug("COMMIT of a read-only transaction failed", metadata: ["error": "\(String(reflecting: error))"])
                    }
                }
                RequestStage.mark("COMMIT written")
                return result
            }
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

/// Transaction-local settings by name, all in one statement whatever their number; it answers how
/// many it set.
///
/// It sets nothing (answers 0) when a role is already set (`current_user` is not the login role):
/// then it is not running in the fresh transaction its BEGIN started but inside one that already
/// belongs to a caller, and the request must not go on there. The test is a sub-select, evaluated
/// once before the first setting (setting `role` changes `current_user`).
struct SetLocalSettings: PostgresPreparedStatement {
    static let name = "feedfusion_set_local_settings_v2"
    static let sql = """
        SELECT count(set_config(name, value, true)) FROM unnest($1::text[], $2::text[]) AS s(name, value)
        WHERE (SELECT current_user = session_user)
        """
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

extension PostgresClient {
    static let beginReadWrite = PostgresQuery(unsafeSQL: "BEGIN")
    static let beginReadOnly = PostgresQuery(unsafeSQL: "BEGIN READ ONLY")
    static let commit = PostgresQuery(unsafeSQL: "COMMIT")
}

/// The settings statement found a role already set: it ran inside a transaction that was not the
/// one its BEGIN should have started.
struct TransactionNotFresh: Error, CustomStringConvertible {
    var description: String { "the transaction's settings found another caller's role already set" }
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
