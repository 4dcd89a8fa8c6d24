import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Read-your-writes for what a listening connection applies after the fact (the feed cache's
/// invalidation by NOTIFY): without it, a client that writes and at once reads again could be
/// answered from a cache the listener has not yet corrected.
///
/// A write transaction ends with one more NOTIFY on the listener's channel carrying a token, sent
/// after everything its triggers announced; the request answers once the listener has handled that
/// token. PostgreSQL delivers a transaction's notifications together and in the order they were
/// sent, and the listener handles them one after the other, so by then every announcement of the
/// write has been applied. Other instances' listeners see the token and ignore it.
///
/// Only a transaction whose triggers announced something sends the fence: they mark it by setting
/// `marker` to `on` for the transaction (migration 0016 for the feed cache). Any other write answers
/// at once.
public final class WriteFences: Sendable {
    public let channel: String
    public let marker: String
    /// The longest a write waits for its fence (the listener slow, or reconnecting — after which it
    /// drops everything anyway).
    public let timeout: Duration

    private enum Waiter {
        case pending(CheckedContinuation<Void, Never>?)
        case passed
    }
    /// Running totals of how writers' waits ended (for `/metrics`): a rising `timedOut` means the
    /// listener lags behind the writes.
    public struct Statistics: Sendable, Equatable {
        /// The listener handled the fence.
        public var passed = 0
        /// The bound came first.
        public var timedOut = 0
        /// The listener lost its connection or stopped.
        public var released = 0

        public init(passed: Int = 0, timedOut: Int = 0, released: Int = 0) {
            self.passed = passed
            self.timedOut = timedOut
            self.released = released
        }
    }

    private struct State {
        var listening = false
        var waiters: [UUID: Waiter] = [:]
        var statistics = Statistics()
    }
    private let state = Mutex(State())

    public var statistics: Statistics { state.withLock { $0.statistics } }
    /// How long writers waited for their fences, recently: the listener's share of a write's time.
    public let waits = RecentSamples()

    public init(channel: String, marker: String, timeout: Duration = .seconds(1)) {
        self.channel = channel
        self.marker = marker
        self.timeout = timeout
    }

    // MARK: the listener's side

    /// The listener is in place (true) or lost its connection (false: nobody will see a fence, and
    /// whoever waits is let go).
    public func setListening(_ listening: Bool) {
        let released = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.listening = listening
            guard !listening else { return [] }
            defer { state.waiters = [:] }
            state.statistics.released += state.waiters.count
            return state.waiters.values.compactMap { if case .pending(let continuation) = $0 { continuation } else { nil } }
        }
        for continuation in released { continuation.resume() }
    }

    /// Whether a listener is in place: then every write that announced something waits for it.
    public var isListening: Bool { state.withLock { $0.listening } }

    /// The listener has handled everything announced before `token`.
    public func passed(_ token: UUID) {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard case .pending(let continuation) = state.waiters[token] else { return nil }  // another instance's
            state.statistics.passed += 1
            if continuation == nil {
                state.waiters[token] = .passed  // came before its writer started waiting
            } else {
                state.waiters[token] = nil
            }
            return continuation
        }
        continuation?.resume()
    }

    /// The notification a listener decodes as the fence `token`.
    public static func payload(_ token: UUID) -> String { #"{"t":"fence","f":"\#(token.uuidString.lowercased())"}"# }

    // MARK: the writer's side

    /// A new fence, or nil while nobody listens (nothing to wait for).
    public func open() -> UUID? {
        state.withLock { state in
            guard state.listening else { return nil }
            let token = UUID()
            state.waiters[token] = .pending(nil)
            return token
        }
    }

    /// Sends the fence as the transaction's last statement, after the write's own notifications, when
    /// the transaction announced any; false when it did not (then there is nothing to wait for).
    public func send(_ token: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await write(token, on: connection, logger: logger).get()
    }

    /// `send`, written to the connection without waiting for its answer: the COMMIT goes right behind
    /// it and both answers come back in one wait (one round trip less for every write, on a machine
    /// where each is a wait for the CPU). Read the answer after the COMMIT: a fence that failed left
    /// the transaction aborted, and its COMMIT rolled it back.
    public func write(_ token: UUID, on connection: PostgresConnection, logger: Logger) -> EventLoopFuture<Bool> {
        let query: PostgresQuery = "SELECT pg_notify(\(channel), \(Self.payload(token))) WHERE current_setting(\(marker), true) = 'on'"
        return connection.query(query, logger: logger).map { !$0.rows.isEmpty }
    }

    /// Waits until the listener has handled `token` (the write committed), or the timeout passed.
    public func wait(_ token: UUID) async {
        let started = ContinuousClock.now
        defer { waits.record((ContinuousClock.now - started).seconds) }
        await waitAtMost(timeout) { continuation in
            self.state.withLock { state in
                guard case .pending(nil) = state.waiters[token] else {
                    state.waiters[token] = nil  // passed already, or given up
                    return false
                }
                state.waiters[token] = .pending(continuation)
                return true
            }
        } afterwards: {
            state.withLock { state in
                if case .pending = state.waiters[token] { state.statistics.timedOut += 1 }
            }
            abandon(token)  // lets the parked continuation go when the timeout came first
        }
    }

    /// Forgets `token` (the write failed and sent nothing, or its wait is over).
    public func abandon(_ token: UUID) {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state.waiters[token] = nil }
            if case .pending(let continuation) = state.waiters[token] { return continuation }
            return nil
        }
        continuation?.resume()
    }
}
