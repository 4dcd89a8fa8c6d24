/// Waits for a signal another task gives through a parked continuation, at most `bound`: the shape
/// of a writer waiting for its fence (`WriteFences`) and of a read waiting for a held page
/// (`FeedCache.PageHolds`). `park` runs once the continuation exists and, under its owner's lock,
/// either keeps it for the signaller (true) or finds the signal given already, or the wait given up
/// (false: the wait ends at once). `afterwards` runs when the signal or the bound came, whichever
/// was first: it takes back a continuation still parked (the bound came first) and resumes it, and
/// counts what its owner counts.
public func waitAtMost(
    _ bound: Duration, park: @escaping @Sendable (CheckedContinuation<Void, Never>) -> Bool, afterwards: () -> Void
) async {
    await withTaskGroup(of: Void.self) { group in
        group.addTask {
            await withCheckedContinuation { continuation in
                if !park(continuation) { continuation.resume() }
            }
        }
        group.addTask { try? await Task.sleep(for: bound) }
        await group.next()
        group.cancelAll()
        afterwards()
    }
}
