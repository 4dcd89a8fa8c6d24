import Logging
import Database
import PostgresNIO
import ServiceLifecycle

/// Listens on the server's control channel, `feedfusion`: reloads the schema cache on
/// `NOTIFY feedfusion, 'reload schema'`, as PostgREST does on `pgrst` (a migration run from anywhere
/// becomes visible at once), and hands every other payload to `others` (the session gate's
/// `session:<id>`/`user:<id>`). One connection of the pool holds the LISTEN for all of them;
/// `reconnected` runs whenever it was (re)established, after which missed payloads are unknown.
public struct SchemaCacheListener: Service {
    public static let channel = "feedfusion"
    let client: PostgresClient
    let store: SchemaCacheStore
    let others: @Sendable (String) -> Void
    let reconnected: @Sendable () -> Void
    let logger: Logger

    public init(
        client: PostgresClient, store: SchemaCacheStore, others: @escaping @Sendable (String) -> Void = { _ in },
        reconnected: @escaping @Sendable () -> Void = {}, logger: Logger
    ) {
        self.client = client
        self.store = store
        self.others = others
        self.reconnected = reconnected
        self.logger = logger
    }

    public func run() async throws {
        let (client, store, others, reconnected, logger) = (client, store, others, reconnected, logger)
        await cancelWhenGracefulShutdown {
            await client.listenContinuously(
                on: Self.channel, logger: logger, connected: { _ in reconnected() }, lost: { reconnected() }
            ) { payload in
                if payload == "reload schema" {
                    try await store.reload(client: client, logger: logger)
                } else {
                    others(payload)
                }
            }
        }
    }
}
