import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Runs `work` with `connection` and gives up on it — throwing ``DatabaseConnectionLost`` — once the
/// connection has been closed for a sweep or two (¼–½ s) while `work` still waits.
///
/// Why: PostgresNIO hands each statement to its channel without a write promise. A statement sent
/// just as the server ended the connection (a PostgreSQL restart, `pg_terminate_backend`) can be
/// dropped with the torn-down channel, and whoever awaits its result waits forever. Under load that
/// left requests unanswered and kept SIGTERM from ever finishing (issue 23). The abandoned `work`
/// stays suspended (it holds nothing but the dead connection); the request answers 503 and the
/// pool replaces the connection.
public func untilConnectionLost<Result: Sendable>(
    _ connection: PostgresConnection, _ work: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    let waiter = LossWaiter<Result>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            waiter.start(continuation)
            let id = ConnectionLossSweeper.shared.watch(connection) { waiter.finish(.failure(DatabaseConnectionLost())) }
            waiter.task(Task {
                let outcome: Swift.Result<Result, any Error>
                do { outcome = .success(try await work()) } catch { outcome = .failure(error) }
                ConnectionLossSweeper.shared.unwatch(id)
                waiter.finish(outcome)
            })
        }
    } onCancel: {
        waiter.cancel()
    }
}

extension PostgresClient {
    /// `query` on a pooled connection, its rows collected, guarded against a connection that dies
    /// under it (see ``untilConnectionLost(_:_:)``). For queries outside a caller's transaction.
    public func guardedQuery(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        try await withConnection { connection in
            try await untilConnectionLost(connection) {
                try connection.ensureOpen()
                return try await connection.query(query, logger: logger).collect()
            }
        }
    }
}

/// The continuation of one `untilConnectionLost` call, resumed once by whichever comes first.
private final class LossWaiter<Result: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Result, any Error>?
        var work: Task<Void, Never>?
        var cancelled = false
    }
    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<Result, any Error>) { state.withLock { $0.continuation = continuation } }

    func task(_ work: Task<Void, Never>) {
        let cancelled = state.withLock { state in
            state.work = work
            return state.cancelled
        }
        if cancelled { work.cancel() }
    }

    func finish(_ outcome: Swift.Result<Result, any Error>) {
        let continuation = state.withLock { state in
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(with: outcome)
    }

    func cancel() {
        let work = state.withLock { state in
            state.cancelled = true
            return state.work
        }
        work?.cancel()
    }
}

/// One task for the whole process that looks, four times a second, for watched connections that
/// have closed; a connection seen closed on two sweeps in a row fails its waiter.
final class ConnectionLossSweeper: Sendable {
    static let shared = ConnectionLossSweeper()

    private struct Entry {
        let connection: PostgresConnection
        let lost: @Sendable () -> Void
        var seenClosed = false
    }
    private struct State {
        var next = 0
        var entries: [Int: Entry] = [:]
        var sweeping = false
    }
    private let state = Mutex(State())
    static let interval: Duration = .milliseconds(250)

    func watch(_ connection: PostgresConnection, lost: @escaping @Sendable () -> Void) -> Int {
        let (id, start) = state.withLock { state in
            state.next += 1
            state.entries[state.next] = Entry(connection: connection, lost: lost)
            defer { state.sweeping = true }
            return (state.next, !state.sweeping)
        }
        if start {
            // Detached: it outlives any one request; it stops when nothing is watched.
            Task.detached { await self.sweep() }
        }
        return id
    }

    func unwatch(_ id: Int) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }

    private func sweep() async {
        while true {
            try? await Task.sleep(for: Self.interval)
            let lost = state.withLock { state -> [@Sendable () -> Void]? in
                if state.entries.isEmpty {
                    state.sweeping = false
                    return nil
                }
                var lost: [@Sendable () -> Void] = []
                for (id, entry) in state.entries where entry.connection.isClosed {
                    if entry.seenClosed {
                        lost.append(entry.lost)
                        state.entries[id] = nil
                    } else {
                        state.entries[id]?.seenClosed = true
                    }
                }
                return lost
            }
            guard let lost else { return }
            for fail in lost { fail() }
        }
    }
}
