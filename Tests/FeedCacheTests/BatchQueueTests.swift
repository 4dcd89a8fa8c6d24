import Synchronization
import Testing

@testable import FeedCache

/// The invalidation listener's queue: what arrives while a batch is applied forms the next batch,
/// nothing is lost or reordered, and finishing drains what is pending.
@Suite("Notification batches")
struct BatchQueueTests {
    @Test("a burst during a slow batch becomes one batch; order kept; finish drains")
    func batching() async throws {
        let queue = BatchQueue<String>()
        let batches = Mutex<[[String]]>([])
        let firstStarted = AsyncStream.makeStream(of: Void.self)
        let consumer = Task {
            await queue.batches { batch, _ in
                batches.withLock { $0.append(batch) }
                if batch == ["1"] {
                    firstStarted.continuation.yield()
                    try? await Task.sleep(for: .milliseconds(200))  // a slow follower lookup
                }
            }
        }
        queue.push("1")
        for await _ in firstStarted.stream { break }
        for n in 2...50 { queue.push("\(n)") }
        queue.finish()
        await consumer.value
        let seen = batches.withLock { $0 }
        #expect(seen == [["1"], (2...50).map(String.init)])
    }
}
