import Database
import Foundation
import Logging
import PostgresNIO

/// One data-API request as `rpc_observations` keeps it.
public struct RPCObservation: Sendable {
    public var createdAt: Date
    /// The function (for `/rpc/…`) or table the request addressed.
    public var function: String
    public var method: String
    public var role: String
    public var userID: UUID?
    public var status: Int
    public var durationMilliseconds: Double
    /// The database's share; nil when the database was not asked (a cache hit, a refusal).
    public var databaseMilliseconds: Double?
    public var errorCode: String?
    public var requestID: String?
    /// `hit`, `miss`, `stale`, `coalesced` or `bypass`.
    public var cacheResult: String

    public init(
        createdAt: Date = Date(), function: String, method: String, role: String, userID: UUID?, status: Int,
        durationMilliseconds: Double, databaseMilliseconds: Double?, errorCode: String?, requestID: String?, cacheResult: String
    ) {
        self.createdAt = createdAt
        self.function = function
        self.method = method
        self.role = role
        self.userID = userID
        self.status = status
        self.durationMilliseconds = durationMilliseconds
        self.databaseMilliseconds = databaseMilliseconds
        self.errorCode = errorCode
        self.requestID = requestID
        self.cacheResult = cacheResult
    }
}

extension RPCObservation {
    /// Writes a batch in one statement: one array per column, bound, unnested by PostgreSQL.
    /// PostgresNIO binds no arrays of optionals, so absent values travel as '' / NaN and become NULL.
    public static func insert(_ batch: [RPCObservation], client: PostgresClient, logger: Logger) async throws {
        let created = batch.map(\.createdAt)
        let functions = batch.map(\.function)
        let methods = batch.map(\.method)
        let roles = batch.map(\.role)
        let users = batch.map { $0.userID?.uuidString ?? "" }
        let statuses = batch.map { Int16(clamping: $0.status) }
        let durations = batch.map { Float($0.durationMilliseconds) }
        let databaseTimes = batch.map { $0.databaseMilliseconds.map(Float.init) ?? .nan }
        let errorCodes = batch.map { $0.errorCode ?? "" }
        let requestIDs = batch.map { $0.requestID ?? "" }
        let cacheResults = batch.map(\.cacheResult)
        // Telemetry need not wait for the WAL to reach the disk: a crash may lose the last batch,
        // never corrupt anything, and the request path's commits keep their durability.
        try await client.withCaller(.serviceRole, settings: [("synchronous_commit", "off")], logger: logger) { connection in
            try await connection.query("""
                INSERT INTO public.rpc_observations
                    (created_at, fn, method, role, user_id, status, duration_ms, db_ms, error_code, request_id, meta)
                SELECT c, f, m, r, NULLIF(u, '')::uuid, s, d, NULLIF(db, 'NaN'::float4), NULLIF(e, ''), NULLIF(q, ''),
                       jsonb_build_object('cache_result', cr)
                FROM unnest(\(created)::timestamptz[], \(functions)::text[], \(methods)::text[], \(roles)::text[],
                            \(users)::text[], \(statuses)::int2[], \(durations)::float4[], \(databaseTimes)::float4[],
                            \(errorCodes)::text[], \(requestIDs)::text[], \(cacheResults)::text[])
                     AS t(c, f, m, r, u, s, d, db, e, q, cr)
                """, logger: logger)
        }
    }
}
