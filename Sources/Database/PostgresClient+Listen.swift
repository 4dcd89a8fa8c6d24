import Logging
import PostgresNIO

extension PostgresClient {
    /// Listens on `channel` until the task is cancelled, on one connection of the pool, and
    /// reconnects a second after that connection drops. `connected` runs each time the LISTEN is in
    /// place (with the connection, which may run queries meanwhile) and `lost` each time it dropped:
    /// notifications in between were missed.
    public func listenContinuously(
        on channel: String, logger: Logger,
        connected: @Sendable (PostgresConnection) async -> Void = { _ in }, lost: @Sendable () async -> Void = {},
        _ handle: @Sendable (String) async throws -> Void
    ) async {
        while !Task.isCancelled {
            do {
                try await withConnection { connection in
                    try await connection.listen(on: channel) { notifications in
                        await connected(connection)
                        for try await notification in notifications { try await handle(notification.payload) }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.debug("listener on \(channel) reconnecting", metadata: ["error": "\(String(reflecting: error))"])
            }
            await lost()
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
