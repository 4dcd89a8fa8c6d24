import Synchronization

/// Read-your-writes for homes whose correction comes after the writer's answer: a new post is
/// pushed onto its followers' cached homes, and a follow merged into the follower's window, by the
/// listener's home worker, after the writer was let go. Until then the homes it will change are
/// held, and a read of a held home waits (at most `timeout`, as a writer waits for its fence): a
/// follower who reads right after the author's answer gets the post, and the author need not wait
/// for a fan-out to thousands of homes. Only the homes a write reaches are held, not every reader's.
public final class HomeHolds: Sendable {
    private enum Waiter {
        /// Waiting, or about to: its continuation is not in place yet.
        case starting
        case waiting(CheckedContinuation<Void, Never>)
    }
    private struct State {
        /// viewer → how many pending works will change their home.
        var holds: [String: Int] = [:]
        /// The readers waiting, and for each held viewer which of them wait for it.
        var waiters: [Int: Waiter] = [:]
        var waitersOf: [String: Set<Int>] = [:]
        var nextWaiter = 0
        var waits = 0, timedOut = 0
    }
    private let state = Mutex(State())
    let timeout: Duration

    public init(timeout: Duration = .seconds(1)) { self.timeout = timeout }

    /// Reads that waited, and of those the ones whose wait ran out, since start.
    public var statistics: (waits: Int, timedOut: Int) { state.withLock { ($0.waits, $0.timedOut) } }

    /// Holds `viewers`' homes until as many `release`s.
    func hold(_ viewers: some Sequence<String>) {
        state.withLock { state in
            for viewer in viewers { state.holds[viewer, default: 0] += 1 }
        }
    }

    /// Ends one hold of each of `viewers`; readers of homes no longer held go on.
    func release(_ viewers: some Sequence<String>) {
        let resumed = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            var resumed: [CheckedContinuation<Void, Never>] = []
            for viewer in viewers {
                guard let count = state.holds[viewer] else { continue }
                guard count == 1 else {
                    state.holds[viewer] = count - 1
                    continue
                }
                state.holds[viewer] = nil
                for ticket in state.waitersOf.removeValue(forKey: viewer) ?? [] {
                    // One still starting finds its ticket gone and goes on at once.
                    if case .waiting(let continuation) = state.waiters.removeValue(forKey: ticket) { resumed.append(continuation) }
                }
            }
            return resumed
        }
        for continuation in resumed { continuation.resume() }
    }

    public func isHeld(_ viewer: String) -> Bool { state.withLock { $0.holds[viewer] != nil } }

    /// Returns once `viewer`'s home is not held, or `timeout` passed.
    public func wait(for viewer: String) async {
        let ticket = state.withLock { state -> Int? in
            guard state.holds[viewer] != nil else { return nil }
            state.nextWaiter += 1
            state.waits += 1
            state.waiters[state.nextWaiter] = .starting
            state.waitersOf[viewer, default: []].insert(state.nextWaiter)
            return state.nextWaiter
        }
        guard let ticket else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let now = self.state.withLock { state -> Bool in
                        guard case .starting = state.waiters[ticket] else { return true }  // released, or given up
                        state.waiters[ticket] = .waiting(continuation)
                        return false
                    }
                    if now { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: self.timeout) }
            await group.next()
            group.cancelAll()
            // Still there: the timeout came first. The reader goes on (and is counted).
            let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let waiter = state.waiters.removeValue(forKey: ticket) else { return nil }
                state.waitersOf[viewer]?.remove(ticket)
                if state.waitersOf[viewer]?.isEmpty == true { state.waitersOf[viewer] = nil }
                state.timedOut += 1
                if case .waiting(let continuation) = waiter { return continuation }
                return nil
            }
            continuation?.resume()
        }
    }
}
