import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A small pool of pipelined Redis connections. Connections are opened on first use and replaced
/// when they fail; every command has a timeout, so a slow or vanished Redis turns into an error
/// quickly rather than a hung request. Callers decide what to do without Redis (FeedFusion falls
/// back to its in-process cache and limits).
public final class RedisClient: Sendable {
    public struct Configuration: Sendable {
        public var endpoint: RedisEndpoint
        public var poolSize: Int = 4
        public var connectTimeout: Duration = .milliseconds(500)
        public var commandTimeout: Duration = .milliseconds(250)
        public init(endpoint: RedisEndpoint) {
            self.endpoint = endpoint
        }
    }

    public let configuration: Configuration
    private let group: any EventLoopGroup
    /// Each slot: the task opening (or having opened) its connection, with a number telling
    /// generations apart so a failure only discards the connection it happened on.
    private let slots: Mutex<[(task: Task<RedisConnection, any Error>, generation: Int)?]>
    private let generations = Atomic<Int>(0)
    private let next = Atomic<Int>(0)

    public init(_ configuration: Configuration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.group = group
        slots = Mutex(Array(repeating: nil, count: max(1, configuration.poolSize)))
    }

    /// Sends one command on one of the pool's connections.
    public func send(_ command: [String]) async throws -> RESPValue {
        let slot = next.add(1, ordering: .relaxed).oldValue % configuration.poolSize
        let (connection, generation) = try await connection(at: slot)
        do {
            return try await connection.send(command, timeout: configuration.commandTimeout)
        } catch let error as RedisError {
            if case .server = error {} else {
                connection.close()
                discard(generation, at: slot)
            }
            throw error
        }
    }

    public func send(_ command: String...) async throws -> RESPValue {
        try await send(command)
    }

    /// Runs a Lua script by its SHA-1 (`EVALSHA`), loading it first when Redis does not know it
    /// (after a restart or `SCRIPT FLUSH`).
    public func run(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RESPValue {
        let tail = ["\(keys.count)"] + keys + arguments
        do {
            return try await send(["EVALSHA", script.sha1] + tail)
        } catch RedisError.server(let message) where message.hasPrefix("NOSCRIPT") {
            _ = try await send(["SCRIPT", "LOAD", script.source])
            return try await send(["EVALSHA", script.sha1] + tail)
        }
    }

    /// Closes every connection (they reopen on the next command).
    public func close() {
        let tasks = slots.withLock { slots in
            defer { slots = Array(repeating: nil, count: slots.count) }
            return slots.compactMap { $0 }
        }
        for slot in tasks { Task { try? await slot.task.value.close() } }
    }

    private func connection(at slot: Int) async throws -> (RedisConnection, Int) {
        let endpoint = configuration.endpoint, timeout = configuration.connectTimeout, group = group
        let (task, generation) = slots.withLock { slots in
            if let existing = slots[slot] { return existing }
            let opening = (
                task: Task { try await RedisConnection.connect(to: endpoint, timeout: timeout, group: group) },
                generation: generations.add(1, ordering: .relaxed).newValue
            )
            slots[slot] = opening
            return opening
        }
        do {
            let connection = try await task.value
            if connection.isActive { return (connection, generation) }
            discard(generation, at: slot)
            return try await self.connection(at: slot)
        } catch {
            // The next command tries again (one bounded connection attempt per command).
            discard(generation, at: slot)
            throw error
        }
    }

    private func discard(_ generation: Int, at slot: Int) {
        slots.withLock { slots in
            if slots[slot]?.generation == generation { slots[slot] = nil }
        }
    }
}

/// A Lua script known by its SHA-1, as `EVALSHA` wants it.
public struct RedisScript: Sendable {
    public let source: String
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
