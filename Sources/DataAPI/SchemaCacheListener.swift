import Logging
import Database
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
            await client.listenContinuously(on: Self.channel, logger: logger) { payload in
                if payload == "reload schema" { try await store.reload(client: client, logger: logger) }
            }
        }
    }
}
