import Database
import Synchronization
import Testing

/// The order in which transactions get the request pool's connections: a write before every waiting
/// read, each kind in arrival order; a cancelled wait leaves the line and takes no permit with it.
@Suite("Pool admission: writes first")
struct PoolAdmissionTests {
    /// Records the order in which holders got in.
    final class Order: Sendable {
        private let names = Mutex<[String]>([])
        func append(_ name: String) { names.withLock { $0.append(name) } }
        var all: [String] { names.withLock { $0 } }
    }

    /// Starts a waiter for a permit that records its name once let in, then lets go.
    static func waiter(
        _ admission: PoolAdmission, _ name: String, write: Bool, order: Order
    ) -> Task<Void, any Error> {
        Task {
            try await admission.withPermit(write: write) { order.append(name) }
        }
    }

    /// Takes a permit, and holds it until `release` yields; returns once it is held.
    static func hold(_ admission: PoolAdmission) async -> (holder: Task<Void, any Error>, release: AsyncStream<Void>.Continuation) {
        let (held, release) = AsyncStream.makeStream(of: Void.self)
        let (inside, entered) = AsyncStream.makeStream(of: Void.self)
        let holder = Task { try await admission.withPermit(write: false) { entered.yield(); for await _ in held { break } } }
        for await _ in inside { break }
        return (holder, release)
    }

    /// Waits until `count` transactions wait for a permit (writes + reads).
    static func waitForQueue(_ admission: PoolAdmission, _ count: Int) async throws {
        for _ in 0..<400 where admission.waiting.writes + admission.waiting.reads < count { try await Task.sleep(for: .milliseconds(5)) }
        #expect(admission.waiting.writes + admission.waiting.reads == count)
    }

    @Test("one permit held: reads queued first, writes queued after; the writes go in first, then the reads, each in order")
    func writesFirst() async throws {
        let admission = PoolAdmission(permits: 1)
        let order = Order()
        let (holder, release) = await Self.hold(admission)
        var waiters: [Task<Void, any Error>] = []
        for (name, write) in [("read 1", false), ("read 2", false), ("write 1", true), ("read 3", false), ("write 2", true)] {
            waiters.append(Self.waiter(admission, name, write: write, order: order))
            try await Self.waitForQueue(admission, waiters.count)
        }
        #expect(admission.waiting.writes == 2 && admission.waiting.reads == 3)
        release.yield()
        try await holder.value
        for waiter in waiters { try await waiter.value }
        #expect(order.all == ["write 1", "write 2", "read 1", "read 2", "read 3"])
        #expect(admission.waiting.writes == 0 && admission.waiting.reads == 0)
    }

    @Test("a cancelled wait leaves the line: the next waiter gets the permit, and the permit count is whole afterwards")
    func cancelledWait() async throws {
        let admission = PoolAdmission(permits: 1)
        let order = Order()
        let (holder, release) = await Self.hold(admission)
        let cancelled = Self.waiter(admission, "cancelled write", write: true, order: order)
        try await Self.waitForQueue(admission, 1)
        let next = Self.waiter(admission, "read", write: false, order: order)
        try await Self.waitForQueue(admission, 2)
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(admission.waiting.writes == 0)
        release.yield()
        try await holder.value
        try await next.value
        #expect(order.all == ["read"])
        // One permit, free again: two in a row get it without waiting.
        try await admission.withPermit(write: false) {}
        try await admission.withPermit(write: true) {}
        // A task cancelled before it asks is refused at once, and takes nothing.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await admission.withPermit(write: true) { order.append("early") }
        }
        await #expect(throws: CancellationError.self) { try await early.value }
        try await admission.withPermit(write: false) { order.append("after") }
        #expect(order.all == ["read", "after"])
    }
}
