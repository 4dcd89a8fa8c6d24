import Database
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing
import TestSupport

/// A write waits until a listener has handled what the write announced: the fence travels behind
/// the write's own notifications, and the wait is bounded.
@Suite("Write fences over LISTEN/NOTIFY")
struct WriteFencesTests {
    static let channel = "feedfusion_fence_test"
    static let marker = "feedfusion.fence_test_announced"
    static let announce = "SELECT set_config('feedfusion.fence_test_announced', 'on', true)"

    @Test("committed: the wait ends when the listener has handled the write's notifications, in order")
    func committedWrite() async throws {
        let fences = WriteFences(channel: Self.channel, marker: Self.marker, timeout: .seconds(5))
        let seen = SendableArray()
        // Slower than the write: without the fence the writer would be back first.
        try await Self.withListener(fences, seen: seen, delay: .milliseconds(100)) { client, logger in
            let token = try #require(fences.open())
            let started = ContinuousClock.now
            try await client.withCaller(.serviceRole, logger: logger) { connection in
                _ = try await connection.query("SELECT pg_notify(\(Self.channel), 'the write')", logger: logger).collect()
                _ = try await connection.query(PostgresQuery(unsafeSQL: Self.announce), logger: logger).collect()
                #expect(try await fences.send(token, on: connection, logger: logger))
            }
            await fences.wait(token)
            let waited = ContinuousClock.now - started
            #expect(seen.values == ["the write", WriteFences.payload(token)])
            #expect(waited >= .milliseconds(150) && waited < .seconds(4), "waited \(waited)")
            #expect(fences.statistics == WriteFences.Statistics(passed: 1, timedOut: 0, released: 0))
        }
    }

    @Test("rolled back: nothing arrives, the wait ends at the timeout; abandoned fences are forgotten")
    func rolledBack() async throws {
        let fences = WriteFences(channel: Self.channel, marker: Self.marker, timeout: .milliseconds(400))
        try await Self.withListener(fences) { client, logger in
            let token = try #require(fences.open())
            await #expect(throws: PSQLError.self) {
                try await client.withCaller(.serviceRole, logger: logger) { connection in
                    _ = try await connection.query(PostgresQuery(unsafeSQL: Self.announce), logger: logger).collect()
                    #expect(try await fences.send(token, on: connection, logger: logger))
                    _ = try await connection.query("SELECT 1/0", logger: logger).collect()
                }
            }
            let started = ContinuousClock.now
            await fences.wait(token)
            let waited = ContinuousClock.now - started
            #expect(waited >= .milliseconds(350) && waited < .seconds(3), "waited \(waited)")

            // A transaction that announced nothing sends no fence.
            let unmarked = try #require(fences.open())
            let sent = try await client.withCaller(.serviceRole, logger: logger) { connection in
                try await fences.send(unmarked, on: connection, logger: logger)
            }
            #expect(!sent)
            fences.abandon(unmarked)

            // Another instance's fence (a token never opened here) is ignored, and later waits still work.
            fences.passed(UUID())
            let next = try #require(fences.open())
            try await client.withCaller(.serviceRole, logger: logger) { connection in
                _ = try await connection.query(PostgresQuery(unsafeSQL: Self.announce), logger: logger).collect()
                #expect(try await fences.send(next, on: connection, logger: logger))
            }
            let again = ContinuousClock.now
            await fences.wait(next)
            #expect(ContinuousClock.now - again < .milliseconds(350))
            #expect(fences.statistics == WriteFences.Statistics(passed: 1, timedOut: 1, released: 0))
        }
    }

    @Test("the feed cache's triggers mark the writes they announce, and only those (migration 0016)")
    func cacheMarker() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            let logger = database.logger
            let author = try await Fixtures.createUser(client, username: "marker_author")
            let reader = try await Fixtures.createUser(client, username: "marker_reader")
            func marked(_ statement: PostgresQuery) async throws -> Bool {
                try await client.withCaller(.serviceRole, logger: logger) { connection in
                    _ = try await connection.query(statement, logger: logger).collect()
                    return try await connection.query("SELECT current_setting('feedfusion.cache_announced', true)", logger: logger)
                        .collect().first?.decode(String?.self) == "on"
                }
            }
            #expect(try await marked("INSERT INTO public.posts (author_id, body) VALUES (\(author), 'marked')"))
            #expect(try await marked("UPDATE public.posts SET like_count = like_count WHERE author_id = \(author)"))
            #expect(try await marked("INSERT INTO public.follows (follower_id, followed_profile_id) VALUES (\(reader), \(author))"))
            #expect(try await marked("INSERT INTO public.blocks (blocker_id, blocked_id) VALUES (\(author), \(reader))"))
            #expect(try await marked("UPDATE public.profiles SET display_name = 'Marked' WHERE id = \(author)"))
            // Writes no feed shows: no mark, so no fence and no wait.
            #expect(try await !marked("INSERT INTO public.usage_events (event) VALUES ('app_open')"))
            #expect(try await !marked("SELECT 1"))
        }
    }

    @Test("nobody listening: no fence to wait for; a lost listener lets its waiters go at once")
    func notListening() async throws {
        let fences = WriteFences(channel: Self.channel, marker: Self.marker, timeout: .seconds(30))
        #expect(fences.open() == nil)
        fences.setListening(true)
        let token = try #require(fences.open())
        let waiter = Task { await fences.wait(token) }
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        fences.setListening(false)
        await waiter.value
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(fences.open() == nil)
        // A fence that passed before its writer waits is not waited for.
        fences.setListening(true)
        let early = try #require(fences.open())
        fences.passed(early)
        let quick = ContinuousClock.now
        await fences.wait(early)
        #expect(ContinuousClock.now - quick < .seconds(5))
        #expect(fences.statistics == WriteFences.Statistics(passed: 1, timedOut: 0, released: 1))
    }

    /// Runs `body` while a listener on a fresh database records payloads (after `delay` each) in
    /// `seen` and reports fences to `fences`.
    static func withListener(
        _ fences: WriteFences, seen: SendableArray = SendableArray(), delay: Duration = .zero,
        _ body: @Sendable (PostgresClient, Logger) async throws -> Void
    ) async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            let logger = database.logger
            let listener = Task {
                await client.listenContinuously(on: channel, logger: logger, connected: { _ in fences.setListening(true) }) { payload in
                    if delay > .zero { try await Task.sleep(for: delay) }
                    seen.append(payload)
                    if let token = fenceToken(payload) { fences.passed(token) }
                }
            }
            defer { listener.cancel() }
            try await untilListening(fences)
            try await body(client, logger)
        }
    }

    /// Waits (at most 3 s) for the listener to be in place.
    static func untilListening(_ fences: WriteFences) async throws {
        for _ in 0..<60 {
            if let probe = fences.open() {
                fences.abandon(probe)
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the listener did not connect")
    }

    static func fenceToken(_ payload: String) -> UUID? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: String],
            object["t"] == "fence", let token = object["f"]
        else { return nil }
        return UUID(uuidString: token)
    }
}

/// Payloads collected by a listener task, read by the test.
final class SendableArray: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ value: String) { storage.withLock { $0.append(value) } }
    var values: [String] { storage.withLock { $0 } }
}
