import NIOCore
import PostgresNIO

/// Whether a failure was the connection's rather than the statement's: the socket reset or closed,
/// the server shutting down (`57P01` admin shutdown, `57P02` crash shutdown, `57P03` cannot connect
/// now), the connection class `08`, too many connections (`53300`), or the pool closing while we stop.
///
/// Such a request was not wrong, and the same request may well succeed a moment later: clients get
/// `503` with `Retry-After` (as PostgREST and the Supabase clients expect of a database that is going
/// away), never a `500`; and a read-only transaction that met one is tried again on a fresh
/// connection (`DataAPIService.run`), since it cannot have changed anything.
public enum DatabaseFault {
    /// What `Retry-After` says for a lost connection: PostgreSQL restarts in about a second, and the
    /// pool reconnects by itself.
    public static let retryAfterSeconds = 1

    /// How long a request whose transaction could not begin (nothing sent: safe for a write too)
    /// keeps trying before it answers `503`. PostgreSQL restarts in about a second; a Patroni
    /// failover promotes the synchronous replica in about two, and haproxy and PgBouncer need a
    /// moment more to send connections there. A late answer serves a client better than an error it
    /// must retry; the bound keeps any request from hanging on a database that stays away.
    public static let reconnectWindow = Duration.seconds(5)

    /// The pause before try `attempt` (1, 2, …): 25 ms doubling up to half a second.
    static func reconnectPause(attempt: Int) -> Duration {
        .milliseconds(min(500, 25 << min(max(attempt - 1, 0), 5)))
    }

    /// `body`, run again while it fails with an error `retryable` accepts — the pauses growing —
    /// for up to `reconnectWindow` in all; then (or when cancelled while pausing) its last error.
    /// `willRetry` hears of each such failure before the pause (with the try's number, from 1).
    public static func retrying<Result>(
        while retryable: (any Error) -> Bool, willRetry: (any Error, Int) -> Void = { _, _ in },
        _ body: () async throws -> Result
    ) async throws -> Result {
        let started = ContinuousClock.now
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch where retryable(error) {
                attempt += 1
                let pause = reconnectPause(attempt: attempt)
                guard started.duration(to: .now) + pause <= reconnectWindow else { throw error }
                willRetry(error, attempt)
                guard (try? await Task.sleep(for: pause)) != nil else { throw error }
            }
        }
    }

    public static func isConnectionLoss(_ error: any Error) -> Bool {
        switch error {
        case let error as PSQLError:
            if let sqlState = error.serverInfo?[.sqlState] { return isConnectionLoss(sqlState: sqlState) }
            return [.serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed].contains(error.code)
        case let error as LostBeforeBody:
            return isConnectionLoss(error.underlying)
        case is DatabaseConnectionLost, is ChannelError, is IOError:
            return true
        default:
            return false
        }
    }

    public static func isConnectionLoss(sqlState: String) -> Bool {
        sqlState.hasPrefix("08") || sqlState == "57P01" || sqlState == "57P02" || sqlState == "57P03" || sqlState == "53300"
    }
}
