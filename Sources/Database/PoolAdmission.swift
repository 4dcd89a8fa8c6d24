import Synchronization

/// Who gets the request pool's next free connection: a transaction that may write before one that
/// only reads, each kind first come, first served.
///
/// Why: the pool itself serves its waiters in arrival order. When a thousand users arrive at once,
/// each first read of a profile or entity page is a miss, and a thousand reads stand in that queue
/// for seconds; every like, follow and post stood behind them (`create_post` p95 2.7 s at 1,000
/// users). A separate pool for writes was tried first and measured worse (4.4 s): two connections
/// were too few for the mix's writes, and each one taken from the reads slowed them. Here no
/// connection is set aside: writes are a small share of the traffic and short, so letting them
/// through first costs the reads little, and every connection serves either kind.
///
/// `permits` is the pool's size: a request holds a permit from before it asks the pool for a
/// connection until it gives the connection back, so the pool's own queue stays short and the
/// order is decided here. Waiting here counts against the request's acquisition deadline (the
/// wait is cancelled when the deadline passes, as the pool's is). Only the data API asks for turns:
/// the auth service, session checks and the viewers' relations take the pool's connections directly
/// (short, and few beside the data API), so the pool's own queue can still hold a few of those.
public final class PoolAdmission: Sendable {
    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var free: Int
        var writes: [Waiter] = []
        var reads: [Waiter] = []
        var nextID = 0
        /// Waiters cancelled before they were queued (the handler ran first).
        var cancelled: Set<Int> = []
    }

    private let state: Mutex<State>

    public init(permits: Int) {
        state = Mutex(State(free: max(1, permits)))
    }

    /// Runs `body` holding a permit; a `write` is let in before every waiting read.
    public func withPermit<Result>(write: Bool, _ body: () async throws -> Result) async throws -> Result {
        try await acquire(write: write)
        defer { release() }
        return try await body()
    }

    /// Transactions waiting for a permit now: (writes, reads).
    public var waiting: (writes: Int, reads: Int) {
        state.withLock { ($0.writes.count, $0.reads.count) }
    }

    func acquire(write: Bool) async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Decision { case go, refuse, wait }
                let decision = state.withLock { state -> Decision in
                    if state.cancelled.remove(id) != nil { return .refuse }
                    if state.free > 0 {
                        state.free -= 1
                        return .go
                    }
                    let waiter = Waiter(id: id, continuation: continuation)
                    if write { state.writes.append(waiter) } else { state.reads.append(waiter) }
                    return .wait
                }
                switch decision {
                case .go: continuation.resume()
                case .refuse: continuation.resume(throwing: CancellationError())
                case .wait: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                if let index = state.writes.firstIndex(where: { $0.id == id }) { return state.writes.remove(at: index) }
                if let index = state.reads.firstIndex(where: { $0.id == id }) { return state.reads.remove(at: index) }
                // Not queued yet (or already let in): a permit handed over meanwhile is released by its holder.
                state.cancelled.insert(id)
                return nil
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
        // Let in, but possibly after the cancellation mark was left for a waiter that was served: drop it.
        _ = state.withLock { $0.cancelled.remove(id) }
    }

    func release() {
        let next = state.withLock { state -> Waiter? in
            if !state.writes.isEmpty { return state.writes.removeFirst() }
            if !state.reads.isEmpty { return state.reads.removeFirst() }
            state.free += 1
            return nil
        }
        next?.continuation.resume()
    }
}
