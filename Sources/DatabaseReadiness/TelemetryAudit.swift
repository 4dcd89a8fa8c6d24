import Database
import Logging
import PostgresNIO

/// The telemetry half of `feedfusion verify`: partitions in place, maintenance running, and the
/// cache's hit rate over the last hour as `rpc_observations` recorded it.
public enum TelemetryAudit {
    static let partitioned = ["usage_events", "rpc_observations", "client_metrics"]

    public static func run(on connection: PostgresConnection, cacheHitTarget: Double = 0.7, logger: Logger) async throws -> [ReadinessCheck] {
        // This month's and next month's partition of every partitioned telemetry table.
        let missing = try await strings(connection, logger, """
            SELECT t || '_p' || to_char(m, 'YYYYMM')
            FROM unnest(\(partitioned)::text[]) t,
                 (VALUES (date_trunc('month', now() AT TIME ZONE 'UTC')), (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')) AS months(m)
            WHERE to_regclass('internal.' || t || '_p' || to_char(m, 'YYYYMM')) IS NULL
            ORDER BY 1
            """)
        let partitions = ReadinessCheck.expectingNone(
            "telemetry_partitions", missing,
            passing: "usage_events, rpc_observations and client_metrics have this month's and next month's partitions",
            failing: "missing telemetry partitions (run feedfusion maintenance)")

        let hoursSinceMaintenance = try await connection.query(
            "SELECT extract(epoch FROM now() - max(ran_at))::float8 / 3600 FROM internal.maintenance_runs", logger: logger
        ).decode(Double?.self).first { _ in true } ?? nil
        let maintenance: ReadinessCheck
        if let hours = hoursSinceMaintenance, hours <= 24 {
            maintenance = ReadinessCheck(
                name: "telemetry_retention", status: .pass, summary: "retention ran \(Int(hours * 60)) minutes ago")
        } else {
            maintenance = ReadinessCheck(
                name: "telemetry_retention", status: .warn,
                summary: hoursSinceMaintenance.map { "retention last ran \(Int($0)) hours ago (the server runs it hourly)" }
                    ?? "retention never ran (the server runs it on start; or run feedfusion maintenance)")
        }

        // The seed's check: cache results of the last hour.
        var results: [String: Int] = [:]
        let rows = try await connection.query("""
            SELECT coalesce(meta->>'cache_result', 'none'), count(*)::int FROM public.rpc_observations
            WHERE created_at > now() - interval '1 hour' AND meta->>'cache_result' <> 'bypass' GROUP BY 1
            """, logger: logger)
        for try await (result, count) in rows.decode((String, Int).self) { results[result] = count }
        let total = results.values.reduce(0, +)
        let evidence = results.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
        let cache: ReadinessCheck
        if total == 0 {
            cache = ReadinessCheck(name: "cache_hit_rate", status: .warn, summary: "no cached RPC calls observed in the last hour")
        } else {
            let rate = Double(results["hit", default: 0]) / Double(total)
            let shown = "\(Int((rate * 1000).rounded()) / 10)%"
            cache = ReadinessCheck(
                name: "cache_hit_rate", status: rate >= cacheHitTarget ? .pass : .warn,
                summary: "cache hit rate over the last hour \(shown) of \(total) cacheable calls (target \(Int(cacheHitTarget * 100))%)",
                evidence: evidence)
        }
        return [partitions, maintenance, cache]
    }
}
