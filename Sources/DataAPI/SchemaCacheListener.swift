import Logging
import PostgresNIO
import ServiceLifecycle

/// Reloads the schema cache on `NOTIFY feedfusion, 'reload schema'`, as PostgREST does on
/// `pgrst`: a migration run from anywhere (psql, another instance) becomes visible at once.
/// It holds one connection of the pool for its LISTEN, and reconnects when that connection drops.
public struct SchemaCacheListener: Service {
    public static let channel = "feedfusion"
    let client: PostgresClient
    let store: SchemaCacheStore
    let logger: Logger

    public init(client: PostgresClient, store: SchemaCacheStore, logger: Logger) {
        self.client = client
        self.store = store
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            for try await notification in notifications where notification.payload == "reload schema" {
                                try await store.reload(client: client, logger: logger)
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { return }
                    logger.debug("schema listener reconnecting")
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
