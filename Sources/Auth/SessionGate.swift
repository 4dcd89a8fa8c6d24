import Database
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Whether a signed-in caller's access is still live: the session its token names exists (a sign-out,
/// a ban and a deleted user all delete sessions), and for a token without a session (one an operator
/// signed with the secret) the user exists and is not banned. A valid signature alone is not enough:
/// a ban or a global sign-out ends access at once, not when the token expires.
///
/// Answers are cached per session (or user), so a request costs a dictionary lookup; the database
/// is asked once per session per instance. Triggers (migration 0018) announce every ended session and
/// every banned or deleted user on the server's control channel (`feedfusion`), whose listener hands
/// them to ``apply(_:)``. When that listener's connection drops, everything is forgotten
/// (announcements may have been missed); entries also age out after `maximumAge` as a second net.
public final class SessionGate: Sendable {
    struct Entry {
        let live: Bool
        let userID: UUID
        let checked: ContinuousClock.Instant
    }

    let client: PostgresClient
    let maximumAge: Duration
    let capacity: Int
    let acquisitionTimeout: Duration
    let logger: Logger
    private let entries = Mutex([UUID: Entry]())

    public init(
        client: PostgresClient, maximumAge: Duration = .seconds(300), capacity: Int = 100_000,
        acquisitionTimeout: Duration = PostgresClient.defaultAcquisitionTimeout, logger: Logger
    ) {
        self.client = client
        self.maximumAge = maximumAge
        self.capacity = capacity
        self.acquisitionTimeout = acquisitionTimeout
        self.logger = logger
    }

    public enum Verdict: Sendable, Equatable {
        /// Not a user, or a user whose session (or account) is live.
        case live
        /// The session ended, or the user is banned or gone.
        case ended
        /// The database did not answer.
        case unverifiable
    }

    /// Whether `caller` may go on.
    public func check(_ caller: Caller) async -> Verdict {
        guard caller.role == .authenticated, let userID = caller.userID else { return .live }
        let key = caller.sessionID ?? userID
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[key] }), entry.checked.duration(to: now) < maximumAge { return entry.live ? .live : .ended }
        let live: Bool
        RequestStage.mark("session check")
        do {
            live = try await lookUp(userID: userID, sessionID: caller.sessionID)
        } catch {
            logger.warning("could not check a session", metadata: ["error": "\(String(reflecting: error))"])
            return .unverifiable
        }
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(live: live, userID: userID, checked: now)
        }
        return live ? .live : .ended
    }

    private func lookUp(userID: UUID, sessionID: UUID?) async throws -> Bool {
        try await DatabaseFault.retryingRead(logger: logger) { try await lookUpOnce(userID: userID, sessionID: sessionID) }
    }

    private func lookUpOnce(userID: UUID, sessionID: UUID?) async throws -> Bool {
        try await client.withCaller(.serviceRole, readOnly: true, acquisitionTimeout: acquisitionTimeout, logger: logger) { [logger] connection in
            let rows = try await connection.query(
                """
                SELECT EXISTS (
                    SELECT 1 FROM auth.users u
                    WHERE u.id = \(userID) AND (u.banned_until IS NULL OR u.banned_until <= now())
                      AND (\(sessionID)::uuid IS NULL OR EXISTS (SELECT 1 FROM auth.sessions s WHERE s.id = \(sessionID)::uuid AND s.user_id = u.id)))
                """, logger: logger)
            for try await live in rows.decode(Bool.self) { return live }
            return false
        }
    }

    /// Applies one announcement: `session:<id>` ended, or `user:<id>` changed (banned, unbanned, deleted).
    public func apply(_ payload: String) {
        let parts = payload.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let id = UUID(uuidString: String(parts[1])) else { return }
        switch parts[0] {
        case "session": entries.withLock { _ = $0.removeValue(forKey: id) }
        case "user": forget(user: id)
        default: break
        }
    }

    /// Forgets every answer about `user`'s sessions and account: the next request asks again.
    public func forget(user: UUID) {
        entries.withLock { entries in entries = entries.filter { $0.value.userID != user } }
    }

    /// Forgets every answer (the announcements may have been missed).
    public func forgetAll() {
        entries.withLock { $0.removeAll() }
    }
}
