import AppConfig
import Database
import Logging
import PostgresNIO

/// What sits between the server and PostgreSQL on each of its two pools, and whether that works:
/// the request pool may go through a transaction pooler (PgBouncer `pool_mode = transaction`) with
/// named statements off; the owner's pool may not (it holds the LISTENs, the migrations' advisory
/// lock and `SET` of maintenance — a transaction pooler would lose notifications silently).
public enum PoolingAudit {
    public struct Finding: Sendable {
        public let requests: Pooling
        public let owner: Pooling

        public init(requests: Pooling, owner: Pooling) {
            self.requests = requests
            self.owner = owner
        }
    }

    /// Probes both pools with short-lived clients of two connections each.
    public static func probe(requests: DatabaseURL, owner: DatabaseURL, logger: Logger) async throws -> Finding {
        func probe(_ url: DatabaseURL) async throws -> Pooling {
            let client = PostgresClient(configuration: .init(url: url, poolSize: 2), backgroundLogger: logger)
            return try await withRunningClient(client) { try await PoolerProbe.detect($0, logger: logger) }
        }
        return Finding(requests: try await probe(requests), owner: try await probe(owner))
    }

    /// Named statements for requests: the setting when given (`DB_PREPARED_STATEMENTS`), else on
    /// unless the request pool was found to share sessions between transactions.
    public static func namedStatements(configured: Bool?, requests: Pooling) -> Bool {
        configured ?? (requests == .session)
    }

    public static func check(_ finding: Finding, configured: Bool?) -> ReadinessCheck {
        let named = namedStatements(configured: configured, requests: finding.requests)
        if finding.owner == .transaction {
            return ReadinessCheck(
                name: "pooling", status: .fail,
                summary: "DATABASE_URL goes through a transaction pooler: LISTEN (cache invalidation, realtime, schema reloads) "
                    + "and the migrations' advisory lock need their own server session — point DATABASE_URL at PostgreSQL itself "
                    + "(or a session pooler) and the requests (DATABASE_AUTHENTICATOR_URL) at the transaction pooler")
        }
        switch (finding.requests, named) {
        case (.transaction, true):
            return ReadinessCheck(
                name: "pooling", status: .fail,
                summary: "requests go through a transaction pooler but DB_PREPARED_STATEMENTS=true: a statement prepared on one "
                    + "server session is unknown on the next (PgBouncer before 1.21); set DB_PREPARED_STATEMENTS=false or leave it unset")
        case (.transaction, false):
            return ReadinessCheck(
                name: "pooling", status: .pass,
                summary: "requests go through a transaction pooler (server sessions shared between transactions): named statements off, "
                    + "no session state kept; LISTEN and migrations on DATABASE_URL's own sessions")
        case (.session, _):
            return ReadinessCheck(
                name: "pooling", status: .pass,
                summary: "requests keep their server sessions (PostgreSQL directly or a session pooler): named statements "
                    + (named ? "on" : "off (DB_PREPARED_STATEMENTS=false)"))
        }
    }
}
