import Logging
import NIOCore
import PostgresNIO

/// Whether a failure was the connection's rather than the statement's: the socket reset or closed,
/// the server shutting down (`57P01` admin shutdown, `57P02` crash shutdown, `57P03` cannot connect
/// now), the connection class `08`, too many connections (`53300`), the pool closing while we stop,
/// or the driver closing a connection whose protocol it lost track of.
///
/// Such a request was not wrong, and the same request may well succeed a moment later: clients get
/// `503` with `Retry-After` (as PostgREST and the Supabase clients expect of a database that is going
/// away), never a `500`; and a read-only transaction that met one is tried again on a fresh
/// connection (`retryingRead`), since it cannot have changed anything.
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

    /// `body`, a read-only transaction, run again while it loses its connection (see `retrying`):
    /// having changed nothing, it can always be tried again on another connection. The reads a
    /// request waits on go through here — the Data API's, the session check, the viewer's relations
    /// and the dashboard's `is_admin` — so that a failover or a restart is a late answer, not a
    /// `503`. The session check and the relations run on every request right after the cache
    /// listener reconnects, which drops what they kept: without this, they met the failover's dead
    /// connections while the Data API's own reads were already being retried. Not here: the page
    /// facts (their failure only keeps a page from being shared) and a realtime channel's
    /// authorization (a read-write probe; a refusal is repaired by the client's rejoin).
    public static func retryingRead<Result>(logger: Logger, _ body: () async throws -> Result) async throws -> Result {
        try await retrying(while: isConnectionLoss) { error, tries in
            if tries == 1 {
                logger.notice("a read-only transaction lost its database connection; trying again", metadata: ["error": "\(error)"])
            }
            RequestStage.mark("retrying on a fresh connection")
        } _: {
            try await body()
        }
    }

    public static func isConnectionLoss(_ error: any Error) -> Bool {
        switch error {
        case let error as PSQLError:
            if let sqlState = error.serverInfo?[.sqlState] { return isConnectionLoss(sqlState: sqlState) }
            return isConnectionLoss(code: error.code)
        case let error as LostBeforeBody:
            return isConnectionLoss(error.underlying)
        case is DatabaseConnectionLost, is ChannelError, is IOError:
            return true
        default:
            return false
        }
    }

    /// The driver's own codes for a connection that is gone. `unexpectedBackendMessage` is one: the
    /// driver closes a connection whose protocol it lost track of, and it is how PgBouncer's
    /// `FATAL 08P01 server conn crashed?` (the server behind it died, as in a failover) arrives when
    /// it comes in place of an answer the driver was waiting for — met in the failover drill.
    public static func isConnectionLoss(code: PSQLError.Code) -> Bool {
        [.serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed, .unexpectedBackendMessage]
            .contains(code)
    }

    public static func isConnectionLoss(sqlState: String) -> Bool {
        sqlState.hasPrefix("08") || sqlState == "57P01" || sqlState == "57P02" || sqlState == "57P03" || sqlState == "53300"
    }
}
