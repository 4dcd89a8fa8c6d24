import Logging
import NIOCore
import NIOPosix

/// A connection in pub/sub mode: subscribes to channels and hands every message to `onMessage`.
/// `run()` keeps it subscribed — reconnecting a second after a failure — until the task is cancelled.
public struct RedisSubscriber: Sendable {
    public let endpoint: RedisEndpoint
    public let channels: [String]
    public let timeout: Duration
    let logger: Logger

    public init(endpoint: RedisEndpoint, channels: [String], timeout: Duration = .milliseconds(500), logger: Logger) {
        self.endpoint = endpoint
        self.channels = channels
        self.timeout = timeout
        self.logger = logger
    }

    /// Subscribes and delivers messages until cancelled. `subscribed` runs after each (re)subscription:
    /// messages published while not subscribed were missed.
    public func run(subscribed: @escaping @Sendable () -> Void = {}, onMessage: @escaping @Sendable (String, ByteBuffer) -> Void) async {
        while !Task.isCancelled {
            do {
                let connection = try await RedisConnection.connect(to: endpoint, timeout: timeout, onMessage: onMessage)
                _ = try await connection.send(["SUBSCRIBE"] + channels, timeout: timeout)
                subscribed()
                await withTaskCancellationHandler {
                    try? await connection.channel.closeFuture.get()
                } onCancel: {
                    connection.close()
                }
            } catch {
                logger.debug("redis subscriber reconnecting", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
