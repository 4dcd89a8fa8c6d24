import Foundation
import Logging
import NIOCore
@testable import Redis
import Synchronization
import Testing
import TestSupport

@Suite("Redis client against a real redis-server")
struct RedisClientTests {
    func client(_ redis: TestRedis, timeout: Duration = .milliseconds(250)) -> RedisClient {
        var configuration = RedisClient.Configuration(endpoint: RedisEndpoint(url: redis.url)!)
        configuration.commandTimeout = timeout
        return RedisClient(configuration)
    }

    @Test("commands, binary-safe values, error replies that leave the connection usable")
    func basics() async throws {
        let redis = try TestRedis()
        let client = client(redis)
        #expect(try await client.send("PING") == .simpleString("PONG"))
        let value = "line one\r\nline two ✓"
        #expect(try await client.send("SET", "k", value) == .simpleString("OK"))
        #expect(try await client.send("GET", "k").string == value)
        #expect(try await client.send("GET", "missing").isNull)
        await #expect(throws: RedisError.self) { try await client.send("INCR", "k") }
        #expect(try await client.send("INCR", "counter").integer == 1)
    }

    @Test("1,000 concurrent commands are pipelined and each gets its own reply")
    func pipelining() async throws {
        let redis = try TestRedis()
        let client = client(redis, timeout: .seconds(5))
        let replies = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<1000 { group.addTask { try await client.send("INCR", "n").integer ?? -1 } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(replies.sorted() == Array(1...1000))
        #expect(try await client.send("GET", "n").integer == 1000)
    }

    @Test("EVALSHA loads the script when Redis has forgotten it")
    func scripts() async throws {
        let redis = try TestRedis()
        let client = client(redis)
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        #expect(try await client.run(script, keys: ["s"], arguments: ["5"]).integer == 5)
        _ = try await client.send("SCRIPT", "FLUSH")
        #expect(try await client.run(script, keys: ["s"], arguments: ["2"]).integer == 7)
        #expect(script.sha1 == (try await client.send("SCRIPT", "LOAD", script.source).string))
    }

    @Test("a slow reply times out, closes that connection, and the client carries on")
    func timeout() async throws {
        let redis = try TestRedis()
        let client = client(redis, timeout: .milliseconds(100))
        _ = try await client.send("PING")
        let started = ContinuousClock.now
        await #expect(throws: RedisError.timeout) { try await client.send("DEBUG", "SLEEP", "0.5") }
        #expect(ContinuousClock.now - started < .milliseconds(400))
        try await Task.sleep(for: .milliseconds(600))
        for _ in 0..<8 { #expect(try await client.send("PING") == .simpleString("PONG")) }
    }

    @Test("Redis killed: commands fail fast; restarted: the client recovers by itself")
    func outage() async throws {
        let redis = try TestRedis()
        let client = client(redis)
        _ = try await client.send("SET", "k", "v")
        redis.stop()
        let started = ContinuousClock.now
        for _ in 0..<8 { await #expect(throws: (any Error).self) { try await client.send("GET", "k") } }
        #expect(ContinuousClock.now - started < .seconds(3))
        try redis.start()
        var recovered = false
        for _ in 0..<20 where !recovered {
            recovered = (try? await client.send("PING")) == .simpleString("PONG")
            if !recovered { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(recovered)
    }

    @Test("pub/sub: a subscriber receives what is published")
    func pubSub() async throws {
        let redis = try TestRedis()
        let client = client(redis)
        let received = Mutex<[String]>([])
        let subscribed = Mutex(false)
        let subscriber = RedisSubscriber(endpoint: RedisEndpoint(url: redis.url)!, channels: ["news"], logger: Logger(label: "test"))
        let task = Task {
            await subscriber.run(subscribed: { subscribed.withLock { $0 = true } }) { channel, payload in
                received.withLock { $0.append("\(channel):\(String(buffer: payload))") }
            }
        }
        for _ in 0..<100 where !subscribed.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try await client.send("PUBLISH", "news", "hello").integer == 1)
        #expect(try await client.send("PUBLISH", "other", "ignored").integer == 0)
        for _ in 0..<100 where received.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(received.withLock { $0 } == ["news:hello"])
        task.cancel()
        await task.value
    }
}

@Suite("RESP parsing and Redis URLs")
struct RESPParserTests {
    func parse(_ text: String) throws -> (RESPValue?, Int) {
        var buffer = ByteBuffer(string: text)
        let value = try RESPParser.parse(&buffer)
        return (value, buffer.readableBytes)
    }

    @Test("an incomplete value consumes nothing")
    func partial() throws {
        for text in ["$5\r\nhel", "*2\r\n:1\r\n", "+OK", "$5\r\nhello\r"] {
            let (value, left) = try parse(text)
            #expect(value == nil)
            #expect(left == text.utf8.count)
        }
        let (value, left) = try parse("*2\r\n:1\r\n$-1\r\n+next\r\n")
        #expect(value == .array([.integer(1), .bulkString(nil)]))
        #expect(left == 7)
    }

    @Test("RESP3 types")
    func resp3() throws {
        #expect(try parse("_\r\n").0 == .null)
        #expect(try parse("#t\r\n").0 == .boolean(true))
        #expect(try parse(",1.5\r\n").0 == .double(1.5))
        #expect(try parse("%1\r\n+a\r\n:1\r\n").0 == .map([(.simpleString("a"), .integer(1))]))
        #expect(try parse(">3\r\n+message\r\n+ch\r\n$1\r\nx\r\n").0 == .push([.simpleString("message"), .simpleString("ch"), .bulkString(ByteBuffer(string: "x"))]))
        #expect(try parse("!5\r\nERR x\r\n").0 == .error("ERR x"))
    }

    @Test("hostile input is refused, not trusted")
    func hostile() {
        #expect(throws: RedisError.self) { try parse("$99999999999\r\n") }
        #expect(throws: RedisError.self) { try parse("?\r\n") }
        #expect(throws: RedisError.self) { try parse(String(repeating: "*1\r\n", count: 40) + ":1\r\n") }
    }

    @Test("redis:// URLs")
    func urls() {
        #expect(RedisEndpoint(url: "redis://localhost") == RedisEndpoint(host: "localhost"))
        #expect(RedisEndpoint(url: "redis://:s3cret@cache:6380/2") == RedisEndpoint(host: "cache", port: 6380, password: "s3cret", database: 2))
        #expect(RedisEndpoint(url: "redis://app:pw@10.0.0.1") == RedisEndpoint(host: "10.0.0.1", username: "app", password: "pw"))
        #expect(RedisEndpoint(url: "http://x") == nil)
        #expect(RedisEndpoint(url: "redis://host:99999") == nil)
    }
}
