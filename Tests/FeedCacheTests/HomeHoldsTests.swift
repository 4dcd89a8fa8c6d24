import Foundation
import Synchronization
import Testing

@testable import FeedCache

/// A home held for a write still on its way into it (a post being fanned out, a follow being
/// merged): its reads wait until every hold ends, or their bound passes — and never hang.
@Suite("Homes held until the home worker has been")
struct HomeHoldsTests {
    @Test("a read of a home not held goes on; of a held one, once every hold of it has ended")
    func holds() async throws {
        let holds = HomeHolds(timeout: .seconds(30))
        await holds.wait(for: "a")
        #expect(holds.statistics.waits == 0)
        holds.hold(["a", "b"])
        holds.hold(["a"])
        let released = Mutex(0)
        let reader = Task {
            await holds.wait(for: "a")
            return released.withLock { $0 }
        }
        // Another home's hold ending lets nobody through; the first of a's two neither.
        try await Task.sleep(for: .milliseconds(50))
        holds.release(["b"])
        holds.release(["a"])
        try await Task.sleep(for: .milliseconds(50))
        #expect(holds.isHeld("a") && !holds.isHeld("b"))
        released.withLock { $0 = 1 }
        holds.release(["a"])
        #expect(await reader.value == 1, "the reader went on before the last hold ended")
        #expect(!holds.isHeld("a"))
        #expect(holds.statistics.waits == 1 && holds.statistics.timedOut == 0)
        // More releases than holds change nothing.
        holds.release(["a", "a"])
        holds.hold(["a"])
        #expect(holds.isHeld("a"))
    }

    @Test("a hold that never ends keeps a reader no longer than the bound, and is counted")
    func bound() async throws {
        let holds = HomeHolds(timeout: .milliseconds(50))
        holds.hold(["a"])
        await holds.wait(for: "a")
        #expect(holds.statistics.timedOut == 1)
        #expect(holds.isHeld("a"), "a reader giving up does not end the hold")
        // Its release later finds nobody waiting, and the next reader goes on at once.
        holds.release(["a"])
        await holds.wait(for: "a")
        #expect(holds.statistics.waits == 1)
    }

    @Test("readers racing holds and releases all go on (none left behind)")
    func racing() async throws {
        let holds = HomeHolds(timeout: .seconds(30))
        let viewers = (0..<8).map { "v\($0)" }
        await withTaskGroup(of: Void.self) { group in
            for round in 0..<200 {
                let viewer = viewers[round % viewers.count]
                holds.hold([viewer])
                group.addTask { await holds.wait(for: viewer) }
                group.addTask {
                    await Task.yield()
                    holds.release([viewer])
                }
            }
        }
        #expect(viewers.allSatisfy { !holds.isHeld($0) })
        #expect(holds.statistics.timedOut == 0)
    }
}
