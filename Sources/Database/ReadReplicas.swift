import Foundation
import Logging
import PostgresNIO
import Synchronization

/// A position in PostgreSQL's write-ahead log (`pg_lsn`, text `X/Y`), comparable.
public struct WALPosition: Sendable, Comparable, CustomStringConvertible {
    public let value: UInt64

    public init(_ value: UInt64) { self.value = value }

    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let high = UInt64(parts[0], radix: 16), let low = UInt64(parts[1], radix: 16) else { return nil }
        value = high << 32 | low
    }

    public static func < (lhs: WALPosition, rhs: WALPosition) -> Bool { lhs.value < rhs.value }

    public var description: String {
        String(value >> 32, radix: 16, uppercase: true) + "/" + String(value & 0xFFFF_FFFF, radix: 16, uppercase: true)
    }
}

/// The newest write position any instance knows of, shared between instances (Redis): a client
/// that wrote through one instance and reads through another must not be sent to a replica the
/// second one thinks fresh. `current` throws when it cannot be read (the read then goes to the primary).
public protocol SharedWritePosition: Sendable {
    func raise(to position: WALPosition) async
    func current() async throws -> WALPosition
}

/// Reads a replica may answer (issue 22). Each replica's replay position is read every
/// `pollInterval`; a read goes to a replica that is up, within `maxLag` of the primary, and has
/// replayed everything this server knows to have been written — its own requests' writes, and the
/// writes other instances announced (the cache's invalidations): a read on a replica can then never
/// show a state older than one the client or the shared cache has already seen. Else the primary.
/// Replicas take turns.
public final class ReadReplicas: Sendable {
    public struct Replica: Sendable {
        public let name: String
        public let client: PostgresClient

        public init(name: String, client: PostgresClient) {
            self.name = name
            self.client = client
        }
    }

    struct State {
        var replayed: [WALPosition?]
        var lagSeconds: [Double?]
        /// (when, primary position) readings, newest last.
        var primaryHistory: [(at: ContinuousClock.Instant, position: WALPosition)] = []
        /// The newest write this server knows of: a replica must have replayed it to be read.
        var known = WALPosition(0)
        var next = 0
        var routed = (replica: 0, primary: 0)
    }

    public let replicas: [Replica]
    /// With several instances: the position every instance's writes reached.
    public let shared: (any SharedWritePosition)?
    let primary: PostgresClient
    let maxLag: Duration
    let pollInterval: Duration
    let logger: Logger
    private let state: Mutex<State>

    public init(
        primary: PostgresClient, replicas: [Replica], shared: (any SharedWritePosition)? = nil, maxLag: Duration = .seconds(5),
        pollInterval: Duration = .milliseconds(100), logger: Logger
    ) {
        self.primary = primary
        self.shared = shared
        self.replicas = replicas
        self.maxLag = maxLag
        self.pollInterval = pollInterval
        self.logger = logger
        state = Mutex(State(replayed: replicas.map { _ in nil }, lagSeconds: replicas.map { _ in nil }))
    }

    /// The pool a read should use: a replica fresh enough for it, or nil for the primary.
    public func clientForRead() async -> PostgresClient? {
        guard !replicas.isEmpty else { return nil }
        var elsewhere = WALPosition(0)
        if let shared {
            do { elsewhere = try await shared.current() } catch { elsewhere = WALPosition(.max) }
        }
        return state.withLock { state -> PostgresClient? in
            let needed = max(state.known, elsewhere)
            for offset in 0..<replicas.count {
                let index = (state.next + offset) % replicas.count
                guard let replayed = state.replayed[index], let lag = state.lagSeconds[index], lag <= maxLag.seconds,
                    replayed >= needed
                else { continue }
                state.next = index + 1
                state.routed.replica += 1
                return replicas[index].client
            }
            state.routed.primary += 1
            return nil
        }
    }

    /// A write committed (here, or announced by another instance): the primary's position now is
    /// what every later read must see. Unknown (the primary did not answer): no replica is read
    /// until one passes what the primary reports next.
    public func writeCommitted() async {
        guard !replicas.isEmpty else { return }
        let position = try? await primary.query("SELECT pg_current_wal_insert_lsn()::text", logger: logger)
            .decode(String.self).first { _ in true }.flatMap(WALPosition.init)
        state.withLock { state in state.known = max(state.known, position ?? WALPosition(.max)) }
        if let position { await shared?.raise(to: position) }
    }

    /// Each replica's lag in seconds (nil: down or not yet read), and how many reads went where.
    public var status: (lags: [(name: String, seconds: Double?)], routed: (replica: Int, primary: Int)) {
        state.withLock { state in (replicas.indices.map { (replicas[$0].name, state.lagSeconds[$0]) }, state.routed) }
    }

    /// Reads the primary's and every replica's position every `pollInterval` until cancelled.
    public func watch() async {
        while !Task.isCancelled {
            await poll()
            try? await Task.sleep(for: pollInterval)
        }
    }

    func poll() async {
        let now = ContinuousClock.now
        let primaryText = try? await primary.query("SELECT pg_current_wal_insert_lsn()::text", logger: logger)
            .decode(String.self).first { _ in true }
        if let position = primaryText.flatMap(WALPosition.init) {
            state.withLock { state in
                state.primaryHistory.append((now, position))
                state.primaryHistory.removeAll { now - $0.at > .seconds(120) }
                // An unknown mark is replaced by the primary's first answer after it.
                if state.known == WALPosition(.max) { state.known = position }
            }
        }
        for index in replicas.indices {
            let client = replicas[index].client
            let logger = logger
            let replayed: WALPosition?? = await withTimeout(.seconds(1)) { () async -> WALPosition? in
                let text = try? await client.query("SELECT pg_last_wal_replay_lsn()::text", logger: logger)
                    .decode(String?.self).first { _ in true }
                return (text ?? nil).flatMap(WALPosition.init)
            }
            state.withLock { state in
                guard let replayed = replayed ?? nil else {
                    state.replayed[index] = nil
                    state.lagSeconds[index] = nil
                    return
                }
                state.replayed[index] = replayed
                // Lag: since when the primary has been past the replica's position (0 when it is not).
                if let newest = state.primaryHistory.last, newest.position <= replayed {
                    state.lagSeconds[index] = 0
                } else if let ahead = state.primaryHistory.first(where: { $0.position > replayed }) {
                    state.lagSeconds[index] = (now - ahead.at).seconds
                } else {
                    state.lagSeconds[index] = nil
                }
            }
        }
    }
}
