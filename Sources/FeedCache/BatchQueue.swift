import PostgresNIO
import Synchronization

/// Work received and not yet applied (the listener's notifications, its home worker's pushes and
/// merges). The receiving side only appends (it never waits on the database); the applying side
/// takes everything that arrived meanwhile as one batch, so that under a burst of writes one
/// follower lookup and one cache pass serve many notifications instead of each waiting for the one
/// before.
///
/// For notifications it also holds the listening connection while there is one: the applying side
/// queries on it rather than queueing for a pooled connection behind the requests (writes wait for
/// the listener through their fences).
final class BatchQueue<Item: Sendable>: Sendable {
    private let pending = Mutex<[Item]>([])
    private let listening = Mutex<PostgresConnection?>(nil)
    private let wakeUps: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init() {
        // One buffered wake-up is enough: whoever wakes takes everything pending.
        (wakeUps, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func push(_ item: Item) {
        pending.withLock { $0.append(item) }
        wake.yield()
    }

    /// The connection the notifications come on, or nil once it is lost.
    func setConnection(_ connection: PostgresConnection?) { listening.withLock { $0 = connection } }

    /// Nothing more will come: `batches` ends once the pending ones are taken.
    func finish() { wake.finish() }

    /// Everything pending at each wake-up, in arrival order, with the listening connection if any.
    func batches(_ body: ([Item], PostgresConnection?) async -> Void) async {
        for await _ in wakeUps {
            let batch = pending.withLock { pending in
                defer { pending.removeAll(keepingCapacity: true) }
                return pending
            }
            if !batch.isEmpty { await body(batch, listening.withLock { $0 }) }
        }
    }
}
