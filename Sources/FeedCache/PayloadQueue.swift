import Synchronization

/// Notifications received and not yet applied. The receiving side only appends (it never waits on
/// the database); the applying side takes everything that arrived meanwhile as one batch, so that
/// under a burst of writes one follower lookup and one cache pass serve many notifications instead
/// of each waiting for the one before.
final class PayloadQueue: Sendable {
    private let pending = Mutex<[String]>([])
    private let wakeUps: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init() {
        // One buffered wake-up is enough: whoever wakes takes everything pending.
        (wakeUps, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func push(_ payload: String) {
        pending.withLock { $0.append(payload) }
        wake.yield()
    }

    /// No more notifications: `batches` ends once the pending ones are taken.
    func finish() { wake.finish() }

    /// Everything pending at each wake-up, in arrival order.
    func batches(_ body: ([String]) async -> Void) async {
        for await _ in wakeUps {
            let batch = pending.withLock { pending in
                defer { pending.removeAll(keepingCapacity: true) }
                return pending
            }
            if !batch.isEmpty { await body(batch) }
        }
    }
}
