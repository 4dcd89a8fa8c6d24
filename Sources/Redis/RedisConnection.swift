import Foundation
import NIOCore
import NIOPosix

/// One TCP connection to Redis. Commands may be sent concurrently; they are pipelined and their
/// replies matched in order. A command that outlives its timeout closes the connection (its reply
/// could otherwise be taken for the next command's) and fails with `.timeout`.
public final class RedisConnection: Sendable {
    let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    public var isActive: Bool { channel.isActive }

    /// Connects, authenticates and selects the database, within `timeout`.
    public static func connect(
        to endpoint: RedisEndpoint, timeout: Duration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onMessage: (@Sendable (String, ByteBuffer) -> Void)? = nil
    ) async throws -> RedisConnection {
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + Int64(timeout.components.attoseconds / 1_000_000_000)))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = RESPHandler()
                    handler.onMessage = onMessage
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: endpoint.host, port: endpoint.port).get()
        let connection = RedisConnection(channel: channel)
        do {
            if let password = endpoint.password {
                _ = try await connection.send(endpoint.username.map { ["AUTH", $0, password] } ?? ["AUTH", password], timeout: timeout)
            }
            if endpoint.database != 0 { _ = try await connection.send(["SELECT", "\(endpoint.database)"], timeout: timeout) }
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    /// Sends `command` and waits for its reply, at most `timeout`.
    public func send(_ command: [String], timeout: Duration) async throws -> RESPValue {
        let eventLoop = channel.eventLoop
        let promise = eventLoop.makePromise(of: RESPValue.self)
        let channel = channel
        eventLoop.execute {
            let deadline = eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + Int64(timeout.components.attoseconds / 1_000_000_000))) {
                if let context = try? channel.pipeline.syncOperations.context(handlerType: RESPHandler.self),
                   let handler = context.handler as? RESPHandler
                {
                    handler.fail(with: .timeout, context: context)
                } else {
                    promise.fail(RedisError.timeout)
                }
            }
            promise.futureResult.whenComplete { _ in deadline.cancel() }
            channel.writeAndFlush(RedisRequest(command: command, promise: promise), promise: nil)
        }
        return try await promise.futureResult.get()
    }

    public func close() {
        channel.close(promise: nil)
    }
}

/// Where Redis is: `redis://[[user]:password@]host[:port][/db]`.
public struct RedisEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var database: Int

    public init(host: String, port: Int = 6379, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    public init?(url: String) {
        guard url.hasPrefix("redis://") else { return nil }
        var rest = Substring(url.dropFirst("redis://".count))
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                username = credentials[..<colon].isEmpty ? nil : String(credentials[..<colon])
                password = String(credentials[credentials.index(after: colon)...]).removingPercentEncodingIfPossible
            } else {
                password = String(credentials)
            }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty {
                guard let number = Int(path), number >= 0 else { return nil }
                database = number
            }
            rest = rest[..<slash]
        }
        var host = String(rest)
        var port = 6379
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let number = Int(rest[rest.index(after: colon)...]), (1...65_535).contains(number) else { return nil }
            port = number
            host = String(rest[..<colon])
        }
        host = host.trimmingCharacters(in: ["[", "]"])
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port, username: username, password: password, database: database)
    }
}

extension String {
    var removingPercentEncodingIfPossible: String { removingPercentEncoding ?? self }
}
