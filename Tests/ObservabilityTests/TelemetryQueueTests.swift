import Logging
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport
@testable import Observability

/// The queue between requests and the database: never blocks, drops and counts when full,
/// keeps a failed batch, writes what is left on graceful shutdown.
@Suite("Telemetry queue")
struct TelemetryQueueTests {
    final class Sink: Sendable {
        let rows = Mutex<[Int]>([])
        let stalled = Mutex(false)
        let failing = Mutex(false)
        var written: [Int] { rows.withLock { $0 } }

        func write(_ batch: [Int]) async throws {
            while stalled.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
            if failing.withLock({ $0 }) { throw CancellationError() }
            rows.withLock { $0.append(contentsOf: batch) }
        }
    }

    func makeQueue(_ sink: Sink, capacity: Int = 100, batchSize: Int = 10, interval: Duration = .milliseconds(20)) -> TelemetryQueue<Int> {
        var configuration = TelemetryQueue<Int>.Configuration()
        configuration.capacity = capacity
        configuration.batchSize = batchSize
        configuration.flushInterval = interval
        return TelemetryQueue(name: "test", configuration, logger: testLogger) { try await sink.write($0) }
    }

    @Test("a stalled writer makes offers drop and count, never wait")
    func dropsWhenStalled() async throws {
        let sink = Sink()
        sink.stalled.withLock { $0 = true }
        let queue = makeQueue(sink, capacity: 100, batchSize: 10)
        let flushing = Task { await queue.flush() }  // takes 0 rows: nothing queued yet
        await flushing.value
        for value in 0..<100 { queue.offer(value) }
        let stuck = Task { await queue.flush() }  // takes a batch of 10 and hangs in the writer
        try await Task.sleep(for: .milliseconds(50))
        let started = ContinuousClock.now
        var accepted = 0
        for value in 100..<1100 where queue.offer(value) { accepted += 1 }
        // 1,000 offers against a full queue: no waiting (generously bounded for a loaded machine).
        #expect(ContinuousClock.now - started < .seconds(1))
        #expect(accepted == 10)  // the room the stuck batch freed
        let counts = queue.counts
        #expect(counts.dropped == 990)
        #expect(counts.depth == 100)
        sink.stalled.withLock { $0 = false }
        await stuck.value
        await queue.flushAll()
        #expect(sink.written.count == 110)
        #expect(queue.counts.written == 110)
    }

    @Test("a failed batch stays queued and is written when the database is back")
    func keepsFailedBatch() async throws {
        let sink = Sink()
        sink.failing.withLock { $0 = true }
        let queue = makeQueue(sink, capacity: 100, batchSize: 50)
        for value in 0..<30 { queue.offer(value) }
        await queue.flush()
        #expect(queue.counts.failedBatches == 1)
        #expect(queue.counts.depth == 30)
        sink.failing.withLock { $0 = false }
        await queue.flush()
        #expect(sink.written == Array(0..<30))
        #expect(queue.counts.dropped == 0)
    }

    @Test("graceful shutdown writes everything still queued")
    func flushesOnShutdown() async throws {
        let sink = Sink()
        // A long interval and a large batch: only the shutdown can write these rows.
        let queue = makeQueue(sink, capacity: 10_000, batchSize: 5000, interval: .seconds(3600))
        let group = ServiceGroup(configuration: .init(services: [queue], logger: testLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .milliseconds(100))
            for value in 0..<1234 { queue.offer(value) }
            #expect(sink.written.isEmpty)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(sink.written.count == 1234)
    }

    @Test("a full batch is written before the interval is up")
    func batchSizeTriggersFlush() async throws {
        let sink = Sink()
        let queue = makeQueue(sink, capacity: 10_000, batchSize: 100, interval: .seconds(3600))
        let group = ServiceGroup(configuration: .init(services: [queue], logger: testLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            for value in 0..<250 { queue.offer(value) }
            var waited = 0
            while sink.written.count < 200, waited < 200 {
                try await Task.sleep(for: .milliseconds(10))
                waited += 1
            }
            #expect(sink.written.count == 200)  // two full batches; 50 wait for the interval or shutdown
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(sink.written.count == 250)
    }
}
