import Logging
import PostgresNIO
import Synchronization

/// Holds the current schema cache; reloaded after migrations and on `NOTIFY feedfusion, 'reload schema'`.
public final class SchemaCacheStore: Sendable {
    public let schemas: [String]
    private let state = Mutex<SchemaCache?>(nil)

    public init(schemas: [String]) {
        self.schemas = schemas
    }

    public var current: SchemaCache? { state.withLock { $0 } }

    public func reload(client: PostgresClient, logger: Logger) async throws {
        let cache = try await client.withConnection { connection in
            try await SchemaCache.load(schemas: schemas, on: connection, logger: logger)
        }
        state.withLock { $0 = cache }
        logger.info("schema cache loaded", metadata: ["tables": "\(cache.tables.count)", "functions": "\(cache.functions.count)"])
    }
}
