import Database
import Synchronization

/// Read-your-writes for pages whose correction comes after the writer's answer: a new post is
/// pushed onto its followers' cached homes and onto its author's shared profile pages, and a follow
/// merged into the follower's window, by the listener's home and profile workers, after the writer
/// was let go.
/// Until then the pages it will change are held (by viewer for homes, `ResponseCache.homeHolds`; by
/// author for profiles, `profileHolds`), and a read of a held page waits for the worker (at most
/// `timeout`, as a writer for its fence): a follower who reads right after the author's answer gets
/// the post, and the author need not wait for a fan-out to thousands of homes. Only the pages a
/// write reaches are held.
///
/// A read whose wait runs out does not use a page computed before the post's announcement: a
/// post's hold carries that batch's mark (`ResponseCache.mark()`), and the page is dropped
/// (`ResponseCache.drop(_:before:)`), so the database answers, with the post. Doing that at
/// once instead of waiting was tried and measured: at 1,000 users 3 % of home reads recomputed their
/// 60-row window, PostgreSQL fell behind, and every feed's p95 rose tenfold.
///
/// Keys are viewers' ids for homes and authors' ids for profiles; the functions below say "home".
public final class PageHolds: Sendable {
    private struct Hold {
        var posts = 0
        /// The latest mark among the posts' holds: a page computed after it has every one of them.
        var mark = 0
        var follows = 0
    }
    private enum Waiter {
        /// Waiting, or about to: its continuation is not in place yet.
        case starting
        case waiting(CheckedContinuation<Void, Never>)
    }
    private struct State {
        var holds: [String: Hold] = [:]
        var waiters: [Int: Waiter] = [:]
        var waitersOf: [String: Set<Int>] = [:]
        var nextWaiter = 0
        var readsPastHold = 0, waits = 0, timedOut = 0
    }
    private let state = Mutex(State())
    let timeout: Duration

    public init(timeout: Duration = .seconds(1)) { self.timeout = timeout }

    /// Reads that waited for the worker, those whose wait ran out, and of those the ones that found a
    /// page from before a post (and went to the database).
    public var statistics: (readsPastHold: Int, waits: Int, timedOut: Int) {
        state.withLock { ($0.readsPastHold, $0.waits, $0.timedOut) }
    }

    /// Holds `viewers`' homes for new posts announced before `mark`, until as many `release`s.
    func hold(posts viewers: some Sequence<String>, mark: Int) {
        state.withLock { state in
            for viewer in viewers {
                var hold = state.holds[viewer] ?? Hold()
                hold.mark = hold.posts == 0 ? mark : max(hold.mark, mark)
                hold.posts += 1
                state.holds[viewer] = hold
            }
        }
    }

    /// Holds `viewers`' homes for their follows' merges, until as many `release`s.
    func hold(follows viewers: some Sequence<String>) {
        state.withLock { state in
            for viewer in viewers { state.holds[viewer, default: Hold()].follows += 1 }
        }
    }

    /// Ends one hold of each of `posts` and of each of `follows`; readers of homes no longer held go on.
    func release(posts: some Sequence<String>, follows: some Sequence<String>) {
        let resumed = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            var ended: [String] = []
            // One hold of `viewer` through `count` ends; the home is let go with its last.
            func end(_ viewer: String, _ count: WritableKeyPath<Hold, Int>) {
                guard var hold = state.holds[viewer], hold[keyPath: count] > 0 else { return }
                hold[keyPath: count] -= 1
                if hold.posts == 0 && hold.follows == 0 {
                    state.holds[viewer] = nil
                    ended.append(viewer)
                } else {
                    state.holds[viewer] = hold
                }
            }
            for viewer in posts { end(viewer, \.posts) }
            for viewer in follows { end(viewer, \.follows) }
            var resumed: [CheckedContinuation<Void, Never>] = []
            for viewer in ended {
                for ticket in state.waitersOf.removeValue(forKey: viewer) ?? [] {
                    // One still starting finds its ticket gone and goes on at once.
                    if case .waiting(let continuation) = state.waiters.removeValue(forKey: ticket) { resumed.append(continuation) }
                }
            }
            return resumed
        }
        for continuation in resumed { continuation.resume() }
    }

    /// The mark a page of `viewer`'s home must have been computed after, while it is held for a post.
    public func mark(of viewer: String) -> Int? {
        state.withLock { state in state.holds[viewer].flatMap { $0.posts > 0 ? $0.mark : nil } }
    }

    public func isHeld(_ viewer: String) -> Bool { state.withLock { $0.holds[viewer] != nil } }

    func countReadPastHold() { state.withLock { $0.readsPastHold += 1 } }

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
        await waitAtMost(timeout) { continuation in
            self.state.withLock { state in
                guard case .starting = state.waiters[ticket] else { return false }  // released, or given up
                state.waiters[ticket] = .waiting(continuation)
                return true
            }
        } afterwards: {
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
