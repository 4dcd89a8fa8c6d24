import AppConfig
import Foundation
import Logging
import Observability
import PostgresNIO
import ServiceLifecycle

/// Observability as the request pipeline uses it: metrics, the observation and error queues, the
/// maintenance job, and the request log.
public struct AppTelemetry: Sendable {
    public let settings: ObservabilitySettings
    public let metrics = ServerMetrics()
    /// Nil when `OBSERVATIONS_ENABLED=false`.
    public let observations: TelemetryQueue<RPCObservation>?
    public let errors: ErrorTracker
    public let maintenance: TelemetryMaintenance?
    /// The `feedfusion.http` logger: one line per request.
    let requestLogger: Logger

    /// Observations and errors are written through `client` (as service_role); the maintenance job,
    /// which creates and drops partitions, runs on `owner`'s connection.
    public init(
        settings: ObservabilitySettings, client: PostgresClient, owner: PostgresClient? = nil, logger: Logger,
        requestLogger: Logger? = nil, runMaintenance: Bool = true
    ) {
        self.settings = settings
        var queue = TelemetryQueue<RPCObservation>.Configuration()
        queue.capacity = settings.queueCapacity
        queue.batchSize = settings.batchSize
        queue.flushInterval = .milliseconds(settings.flushIntervalMilliseconds)
        observations = settings.observationsEnabled
            ? TelemetryQueue(name: "rpc_observations", queue, logger: logger) { batch in
                try await RPCObservation.insert(batch, client: client, logger: logger)
            } : nil
        var errorQueue = TelemetryQueue<ErrorEvent>.Configuration()
        errorQueue.flushInterval = queue.flushInterval
        errors = ErrorTracker(
            client: client, sentry: settings.sentryDSN.flatMap(SentryClient.DSN.init).map { SentryClient(dsn: $0, logger: logger) },
            sampleRate: settings.errorSampleRate, queue: errorQueue, logger: logger)
        maintenance = runMaintenance
            ? TelemetryMaintenance(
                client: owner ?? client, retention: .init(settings), interval: .seconds(settings.maintenanceIntervalSeconds), errors: errors, logger: logger)
            : nil
        self.requestLogger = requestLogger ?? logger
    }

    /// The background services; they must start after (and so stop before) the database pool.
    var services: [any Service] {
        var services: [any Service] = [errors.queue]
        if let observations { services.append(observations) }
        if let maintenance { services.append(maintenance) }
        return services
    }

    var queueCounts: [(name: String, counts: TelemetryCounts)] {
        [(errors.queue.name, errors.queue.counts)] + (observations.map { [($0.name, $0.counts)] } ?? [])
    }

    /// Folds an accepted `track_metrics` batch (`{"p_metrics": [{name, value, unit}…]}`) into the histograms.
    func recordClientMetrics(_ body: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let metrics = object["p_metrics"] as? [[String: Any]]
        else { return }
        for metric in metrics {
            guard let name = metric["name"] as? String, let value = (metric["value"] as? NSNumber)?.doubleValue else { continue }
            self.metrics.clientMetric(name: name, unit: metric["unit"] as? String ?? "", value: value)
        }
    }
}

extension TelemetryMaintenance.Retention {
    /// Retention as configured (`RETENTION_*_DAYS`).
    public init(_ settings: ObservabilitySettings) {
        self.init()
        usageEventDays = settings.usageEventRetentionDays
        observationDays = settings.observationRetentionDays
        clientMetricDays = settings.clientMetricRetentionDays
        errorEventDays = settings.errorEventRetentionDays
    }
}
