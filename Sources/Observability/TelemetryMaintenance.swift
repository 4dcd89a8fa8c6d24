import Database
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Keeps the telemetry tables' monthly partitions ahead of time and their retention enforced, on
/// start and then every `interval`. The work is `internal.telemetry_maintenance()` in the database,
/// behind an advisory lock: with several server instances one runs it and the others skip.
public struct TelemetryMaintenance: Service {
    public struct Retention: Sendable {
        public var usageEventDays = 30
        public var observationDays = 14
        public var clientMetricDays = 14
        public var errorEventDays = 30
        public var monthsAhead = 2
        public init() {}
    }

    let client: PostgresClient
    let retention: Retention
    let interval: Duration
    let errors: ErrorTracker?
    let logger: Logger

    public init(client: PostgresClient, retention: Retention, interval: Duration, errors: ErrorTracker?, logger: Logger) {
        self.client = client
        self.retention = retention
        self.interval = interval
        self.errors = errors
        self.logger = logger
    }

    /// Runs maintenance once as of `now`; answers what it did as JSON (`{"ran": false, …}` when
    /// another instance holds the lock).
    public func runOnce(now: Date = Date()) async throws -> String {
        try await client.withConnection { connection in
            try await Self.run(on: connection, now: now, retention: retention, logger: logger)
        }
    }

    public static func run(on connection: PostgresConnection, now: Date, retention: Retention, logger: Logger) async throws -> String {
        let rows = try await connection.query("""
            SELECT internal.telemetry_maintenance(\(now), \(retention.usageEventDays)::int, \(retention.observationDays)::int,
                \(retention.clientMetricDays)::int, \(retention.errorEventDays)::int, \(retention.monthsAhead)::int)::text
            """, logger: logger)
        for try await result in rows.decode(String.self) { return result }
        return "{}"
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                // On start the migrations may not have run yet: a failure is retried soon.
                var wait = interval
                do {
                    let result = try await runOnce()
                    logger.info("telemetry maintenance", metadata: ["result": "\(result)"])
                } catch is CancellationError {
                    return
                } catch {
                    wait = min(interval, .seconds(10))
                    logger.warning("telemetry maintenance failed; will retry", metadata: ["error": "\(String(reflecting: type(of: error)))"])
                    errors?.capture(ErrorEvent(
                        errorType: String(reflecting: type(of: error)), message: "telemetry maintenance failed",
                        route: "job:telemetry_maintenance", context: ["error": String(describing: error)]))
                }
                try? await Task.sleep(for: wait)
            }
        }
    }
}
