import Database
import Logging
import ServiceLifecycle
import Synchronization

/// A bounded queue of telemetry rows, written in batches by a background service.
///
/// `offer` is what a request pays: a lock and an append, never a wait. When the queue is full
/// (the database is stalled or slower than the traffic) the new row is dropped and counted, so a
/// telemetry problem can never become a latency problem. A batch is written when it holds
/// `batchSize` rows or when `flushInterval` has passed; on graceful shutdown everything left is
/// written (within `shutdownTimeout`), which is why the queue must stop before the database pool:
/// give it to the service group after the pool.
public final class TelemetryQueue<Row: Sendable>: Service, Sendable {
    public struct Configuration: Sendable {
        public var capacity = 10_000
        public var batchSize = 500
        public var flushInterval: Duration = .seconds(1)
        /// Two queues flush one after the other within the server's shutdown bound
        /// (SHUTDOWN_TIMEOUT_SECONDS, 10 s by default, cancelling at 6 s): 2 s each leaves room.
        public var shutdownTimeout: Duration = .seconds(2)
        public init() {}
    }

    public typealias Counts = TelemetryCounts

    public let name: String
    private let configuration: Configuration
    private let write: @Sendable ([Row]) async throws -> Void
    private let logger: Logger
    private let state = Mutex<(rows: [Row], counts: Counts, failing: Bool)>(([], Counts(), false))

    public init(
        name: String, _ configuration: Configuration = Configuration(), logger: Logger,
        write: @escaping @Sendable ([Row]) async throws -> Void
    ) {
        self.name = name
        self.configuration = configuration
        self.logger = logger
        self.write = write
    }

    /// Queues `row`; false when the queue was full and the row was dropped.
    @discardableResult
    public func offer(_ row: Row) -> Bool {
        state.withLock { state in
            guard state.rows.count < configuration.capacity else {
                state.counts.dropped += 1
                return false
            }
            state.rows.append(row)
            return true
        }
    }

    public var counts: Counts {
        state.withLock { state in
            var counts = state.counts
            counts.depth = state.rows.count
            return counts
        }
    }

    public func run() async throws {
        // Polling in short steps rather than parking on a continuation: simple to cancel, and a
        // check every 20 ms costs nothing next to the requests that fill the queue.
        let step = min(configuration.flushInterval, .milliseconds(20))
        await cancelWhenGracefulShutdown {
            var lastFlush = ContinuousClock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: step)
                let due = ContinuousClock.now - lastFlush >= self.configuration.flushInterval
                if due || self.state.withLock({ $0.rows.count }) >= self.configuration.batchSize {
                    await self.flush()
                    lastFlush = .now
                }
            }
        }
        // Shutting down: what is queued is written, unless the database does not answer in time.
        let remaining = state.withLock { $0.rows.count }
        if remaining > 0 {
            let done = await withTimeout(configuration.shutdownTimeout) { await self.flushAll() }
            if done == nil { logger.warning("telemetry not written at shutdown", metadata: ["queue": "\(name)", "rows": "\(remaining)"]) }
        }
    }

    /// Writes one batch (up to `batchSize` rows). A failed batch goes back to the front of the
    /// queue as far as there is room, so a short database outage loses nothing.
    public func flush() async {
        let batch = state.withLock { state -> [Row] in
            let batch = Array(state.rows.prefix(configuration.batchSize))
            state.rows.removeFirst(batch.count)
            return batch
        }
        guard !batch.isEmpty else { return }
        do {
            try await write(batch)
            let recovered = state.withLock { state in
                state.counts.written += batch.count
                defer { state.failing = false }
                return state.failing
            }
            if recovered { logger.notice("telemetry written again", metadata: ["queue": "\(name)"]) }
        } catch {
            let firstFailure = state.withLock { state in
                let room = max(0, configuration.capacity - state.rows.count)
                state.rows.insert(contentsOf: batch.suffix(room), at: 0)
                state.counts.dropped += batch.count - min(room, batch.count)
                state.counts.failedBatches += 1
                defer { state.failing = true }
                return !state.failing
            }
            // One line per outage, not one per batch.
            if firstFailure {
                logger.warning(
                    "telemetry batch not written; keeping it queued",
                    metadata: ["queue": "\(name)", "error": "\(String(reflecting: type(of: error)))"])
            }
        }
    }

    /// Writes batches until the queue is empty or a batch fails.
    public func flushAll() async {
        while true {
            let before = counts
            guard before.depth > 0 else { return }
            await flush()
            if counts.failedBatches > before.failedBatches { return }
        }
    }
}

/// What a telemetry queue did so far (for `/metrics`).
public struct TelemetryCounts: Sendable, Equatable {
    public var depth = 0
    public var written = 0
    public var dropped = 0
    public var failedBatches = 0
}
