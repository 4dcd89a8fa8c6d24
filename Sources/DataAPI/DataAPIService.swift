import Database
import Foundation
import Logging
import PostgresNIO

/// The PostgREST-compatible data API: every statement runs as the caller, so Row Level Security
/// decides what is seen and changed; the JSON answer is built by PostgreSQL in the same query.
public struct DataAPIService: Sendable {
    let client: PostgresClient
    public let store: SchemaCacheStore
    /// Most rows a read returns (PostgREST's db-max-rows).
    public let maxRows: Int
    /// Largest answer body in bytes; PostgreSQL measures it and sends nothing bigger.
    public let maxResponseBytes: Int
    /// `statement_timeout` for `anon` and `authenticated` (the service role has none).
    public let statementTimeoutMilliseconds: Int
    /// How long a request waits for a pooled connection.
    public let acquisitionTimeout: Duration
    /// When a listener applies the writes' notifications (the feed cache), a write answers only once
    /// they are applied, so that the writer's next read sees it.
    public var fences: WriteFences?
    /// Read replicas (`DATABASE_REPLICA_URLS`): read-only requests go to one that has replayed every
    /// write this server knows of; writes record how far the primary got.
    public var replicas: ReadReplicas?
    /// The order in which requests get `client`'s connections: writes before reads (nil: the pool's
    /// own order, first come, first served).
    public var admission: PoolAdmission?
    let logger: Logger

    /// Query parameters that are not filters on a table.
    static let reservedParameters: Set<String> = ["select", "order", "limit", "offset", "columns", "on_conflict"]

    public init(
        client: PostgresClient, store: SchemaCacheStore, maxRows: Int, maxResponseBytes: Int = 16 << 20,
        statementTimeoutMilliseconds: Int = 8000,
        acquisitionTimeout: Duration = PostgresClient.defaultAcquisitionTimeout, logger: Logger, admission: PoolAdmission? = nil
    ) {
        self.admission = admission
        self.client = client
        self.store = store
        self.maxRows = maxRows
        self.maxResponseBytes = maxResponseBytes
        self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        self.acquisitionTimeout = acquisitionTimeout
        self.logger = logger
    }

    /// The schema cache, loaded now if the start could not load it. 503 PGRST002 (as PostgREST
    /// answers) when the database does not give it within the connection deadline.
    func cache() async throws(DataAPIError) -> SchemaCache {
        if let cache = store.current { return cache }
        let (store, client, logger) = (store, client, logger)
        let loaded: Void? = await withTimeout(acquisitionTimeout) { try await store.reload(client: client, logger: logger) }
        if loaded == nil {
            throw DataAPIError(status: 503, code: "PGRST002", message: "the schema cache could not be loaded: the database is not reachable")
        }
        guard let cache = store.current else {
            throw DataAPIError(status: 500, code: "PGRST002", message: "the schema cache is not loaded")
        }
        return cache
    }

    func table(_ request: DataRequest, in cache: SchemaCache) throws(DataAPIError) -> SchemaCache.Table {
        guard let table = cache.table(request.resource, schema: request.schema) else {
            throw .unknownTable(request.resource, schema: request.schema)
        }
        return table
    }

    /// Filters of a table request: every parameter that is not reserved (`embed.order` and friends included).
    static func filters(_ request: DataRequest, excluding extra: Set<String> = []) throws(DataAPIError) -> [ScopedFilter] {
        var filters: [ScopedFilter] = []
        for (name, value) in request.query where !reservedParameters.contains(name) && !extra.contains(name) {
            do {
                filters.append(try FilterParser.parse(key: name, value: value))
            } catch {
                throw .grammar(error)
            }
        }
        return filters
    }

    static func parse<T>(_ body: () throws(GrammarError) -> T) throws(DataAPIError) -> T {
        do { return try body() } catch { throw .grammar(error) }
    }

    /// `limit`/`offset` (or the Range header), capped at `maxRows`.
    func window(_ request: DataRequest) throws(DataAPIError) -> (limit: Int, offset: Int) {
        func number(_ name: String) throws(DataAPIError) -> Int? {
            guard let text = request.parameter(name) else { return nil }
            guard let value = Int(text), value >= 0 else {
                throw DataAPIError(status: 400, code: "PGRST100", message: "\(name) must be a non-negative integer (got '\(text)')")
            }
            return value
        }
        var limit = try number("limit")
        var offset = try number("offset") ?? 0
        if let range = request.range {
            offset = range.offset
            if let rangeLimit = range.limit { limit = min(limit ?? rangeLimit, rangeLimit) }
        }
        return (min(limit ?? maxRows, maxRows), offset)
    }

    /// Runs a read as the caller (a read-only transaction, on a replica when there are some) and maps
    /// database errors to PostgREST's.
    func run<Result: Sendable>(
        _ caller: Caller, _ request: DataRequest,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws(DataAPIError) -> Result {
        let settings = self.settings(caller, request)
        let (client, logger) = (self.client, self.logger)
        let pool = await replicas?.clientForRead() ?? client
        // A read-only transaction whose connection died (PostgreSQL restarted, the backend was
        // terminated, the primary failed over) changed nothing: it is tried again on another
        // connection, the pauses growing, within `DatabaseFault.reconnectWindow`. A write never is
        // (whether it committed cannot be known) and answers 503.
        do {
            return try await DatabaseFault.retryingRead(logger: logger) {
                try await pool.withCaller(
                    caller, readOnly: true, settings: settings, acquisitionTimeout: acquisitionTimeout,
                    admission: pool === client ? admission : nil, logger: logger, body)
            }
        } catch {
            throw mapped(error, caller: caller)
        }
    }

    /// Runs a write of one statement as the caller and maps database errors to PostgREST's; `decode`
    /// reads the statement's answer once the transaction has committed.
    ///
    /// The statement, the write fence (see ``WriteFences``) and COMMIT are written together and
    /// answered in one wait (they run one after the other on the connection, without a turn of this
    /// server in between): under load each wait for the server's next statement is a wait for a busy
    /// core, and a write paid three. So nothing may be decided about the answer between the statement
    /// and COMMIT: whatever refuses a write must do so in the statement (a too-large answer raises
    /// there, see ``answerSQL(body:count:from:single:planner:)``), and COMMIT of the transaction it aborted
    /// rolls back. The request returns once the listener has applied what the write announced.
    func runWrite<Result: Sendable>(
        _ caller: Caller, _ request: DataRequest, _ query: PostgresQuery,
        decode: @escaping @Sendable (PostgresQueryResult) throws -> Result
    ) async throws(DataAPIError) -> Result {
        let settings = self.settings(caller, request)
        let fences = self.fences
        let fence = fences?.open()
        let logger = self.logger
        do {
            let (written, fenced) = try await client.withCaller(
                caller, readOnly: false, settings: settings, acquisitionTimeout: acquisitionTimeout, admission: admission, logger: logger
            ) { connection -> (EventLoopFuture<PostgresQueryResult>, EventLoopFuture<Bool>?) in
                RequestStage.mark("statement, fence and COMMIT written")
                let written = connection.query(query, logger: logger)
                guard let fences, let fence else { return (written, nil) }
                return (written, fences.write(fence, on: connection, logger: logger))
            }
            // COMMIT has answered. A statement that failed aborted the transaction (the fence behind it
            // failed too, and COMMIT rolled back): its error is the answer.
            let result = try decode(try await written.get())
            let sent = try await fenced?.get() ?? false
            await replicas?.writeCommitted()
            if let fences, let fence {
                if sent { await fences.wait(fence) } else { fences.abandon(fence) }
            }
            return result
        } catch {
            if let fences, let fence { fences.abandon(fence) }
            throw mapped(error, caller: caller)
        }
    }

    /// PostgREST's transaction settings for `request`, and the statement timeout of a role that has one.
    private func settings(_ caller: Caller, _ request: DataRequest) -> [(name: String, value: String)] {
        var settings: [(name: String, value: String)] = [
            ("request.method", request.method), ("request.path", request.path), ("request.headers", request.headersJSON),
        ]
        if caller.role != .serviceRole {
            settings.append(("statement_timeout", "\(statementTimeoutMilliseconds)ms"))
        }
        return settings
    }

    /// A failure of `run` or `runWrite` as PostgREST reports it.
    private func mapped(_ error: any Error, caller: Caller) -> DataAPIError {
        switch error {
        case let error as DataAPIError:
            return error
        case let error as PSQLError where error.serverInfo?[.sqlState] == DataAPIError.tooLargeSQLState:
            return DataAPIError.tooLarge(Int(error.serverInfo?[.detail] ?? "") ?? 0, limit: maxResponseBytes)
        case let error as PSQLError where error.serverInfo?[.sqlState] == DataAPIError.notSingleSQLState:
            return DataAPIError.notSingle(count: Int(error.serverInfo?[.detail] ?? "") ?? 0)
        case let error as ConnectionAcquisitionTimeout:
            logger.warning("no database connection became free", metadata: ["timeout": "\(error.timeout)"])
            return DataAPIError.poolTimeout
        case let error as PSQLError:
            return DataAPIError.from(error, anonymous: caller.role == .anon)
        case let error where DatabaseFault.isConnectionLoss(error):
            return DataAPIError(status: 503, code: "PGRST000", message: "Could not connect with the database.")
        default:
            logger.error("data API query failed", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            return DataAPIError(status: 500, code: "PGRST000", message: "the database request failed")
        }
    }

    /// A planner for one request, its embeds capped like its rows.
    func planner(_ cache: SchemaCache) -> ReadPlanner { ReadPlanner(cache: cache, maxEmbeddedRows: maxRows) }

    /// The SQL of an answer: the JSON array of `rows`' column `j` and its row count. Past
    /// `maxResponseBytes` the statement raises `FF413` (answered 413, PGRST413) instead, so that an
    /// oversized answer never leaves the database and a write that would give one rolls back
    /// (migration 0038). Read it with ``answer(_:)``.
    ///
    /// With `single` (a write asked for one object), any row count but one raises `FF406` (406,
    /// PGRST116) in the statement, so the write rolls back as PostgREST's does.
    func answerSQL(rows: String, single: Bool = false, planner: inout ReadPlanner) -> String {
        answerSQL(
            body: "coalesce(json_agg(r.j), '[]'::json)::text", count: "count(*)::int", from: "(\(rows)) r", single: single, planner: &planner)
    }

    func answerSQL(body: String, count: String, from: String, single: Bool = false, planner: inout ReadPlanner) -> String {
        let cap = planner.builder.bind(maxResponseBytes)
        let notSingle = single ? "WHEN a.n <> 1 THEN internal.refuse_answer('\(DataAPIError.notSingleSQLState)', a.n) " : ""
        return """
            SELECT CASE \(notSingle)WHEN octet_length(a.body) <= \(cap) THEN a.body ELSE internal.refuse_answer('\(DataAPIError.tooLargeSQLState)', octet_length(a.body)) END, a.n
            FROM (SELECT \(body) AS body, \(count) AS n FROM \(from)) a
            """
    }

    /// The body and row count of an ``answerSQL(rows:planner:)`` query.
    func answer(_ rows: PostgresRowSequence) async throws -> (String, Int) {
        for try await answer in rows.decode((String, Int).self) { return answer }
        return ("[]", 0)
    }

    /// ``answer(_:)`` of a statement answered in full (a write's, see ``runWrite(_:_:_:decode:)``).
    static func answer(_ result: PostgresQueryResult) throws -> (String, Int) {
        try result.rows.first?.decode((String, Int).self) ?? ("[]", 0)
    }

    static func contentRange(offset: Int, count: Int, total: Int?) -> String {
        let totalText = total.map(String.init) ?? "*"
        return count == 0 ? "*/\(totalText)" : "\(offset)-\(offset + count - 1)/\(totalText)"
    }

    /// Shapes the JSON array for `Accept: application/vnd.pgrst.object+json`: exactly one row, as an object.
    static func shape(_ json: String, count: Int, single: Bool) throws(DataAPIError) -> String {
        guard single else { return json }
        guard count == 1 else { throw DataAPIError.notSingle(count: count) }
        return String(json.dropFirst().dropLast())
    }
}
