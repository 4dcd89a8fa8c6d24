/// RPC observations, telemetry retention, Prometheus metrics, error tracking and request logs.
public struct ObservabilitySettings: Sendable {
    /// One `rpc_observations` row per data-API request (written in batches, off the request path).
    public var observationsEnabled = true
    /// The share of requests observed, 0…1 (default: all).
    public var observationSampleRate = 1.0
    /// Rows waiting to be written; beyond this, new ones are dropped (and counted), never waited for.
    public var queueCapacity = 10_000
    /// A batch is written when it holds this many rows or when this much time has passed.
    public var batchSize = 2000
    public var flushIntervalMilliseconds = 1000
    /// Retention, in days, of what is kept (whole monthly partitions go when they are past it).
    public var usageEventRetentionDays = 30
    public var observationRetentionDays = 14
    public var clientMetricRetentionDays = 14
    public var errorEventRetentionDays = 30
    /// How often maintenance (partitions ahead, retention) runs; it also runs on start.
    public var maintenanceIntervalSeconds = 3600
    /// `/metrics` answers only with `Authorization: Bearer <token>` on the API port …
    public var metricsToken: String?
    /// … or on its own port, bound to `metricsHost` (loopback unless told otherwise).
    public var metricsPort: Int?
    public var metricsHost = "127.0.0.1"
    /// Where error reports go besides `error_events` (Sentry's DSN), and the share of repeats sent.
    public var sentryDSN: String?
    public var errorSampleRate = 0.1
    /// Request log lines: `logfmt` or `json`; `false` turns the one-line-per-request log off.
    public var logFormat: LogFormat = .logfmt
    public var logRequests = true
    public enum LogFormat: String, Sendable { case logfmt, json }

    public init() {}
}

extension ObservabilitySettings {
    init(reader: SettingsReader) throws {
        self.init()
        observationsEnabled = try reader.boolean("OBSERVATIONS_ENABLED") ?? observationsEnabled
        observationSampleRate = try reader.number("OBSERVATION_SAMPLE_RATE", in: 0...1) ?? observationSampleRate
        queueCapacity = try reader.integer("TELEMETRY_QUEUE_CAPACITY", in: 1...10_000_000) ?? queueCapacity
        batchSize = try reader.integer("TELEMETRY_BATCH_SIZE", in: 1...10_000) ?? batchSize
        flushIntervalMilliseconds = try reader.integer("TELEMETRY_FLUSH_MS", in: 10...600_000) ?? flushIntervalMilliseconds
        usageEventRetentionDays = try reader.integer("RETENTION_USAGE_EVENTS_DAYS", in: 1...3650) ?? usageEventRetentionDays
        observationRetentionDays = try reader.integer("RETENTION_OBSERVATIONS_DAYS", in: 1...3650) ?? observationRetentionDays
        clientMetricRetentionDays = try reader.integer("RETENTION_CLIENT_METRICS_DAYS", in: 1...3650) ?? clientMetricRetentionDays
        errorEventRetentionDays = try reader.integer("RETENTION_ERROR_EVENTS_DAYS", in: 1...3650) ?? errorEventRetentionDays
        maintenanceIntervalSeconds = try reader.integer("MAINTENANCE_INTERVAL_SECONDS", in: 10...86_400 * 7)
            ?? maintenanceIntervalSeconds
        metricsToken = try reader.string("METRICS_TOKEN", isSecret: true)
        if let token = metricsToken, token.count < 16 {
            throw SettingsError(setting: "METRICS_TOKEN", problem: "use at least 16 characters")
        }
        metricsPort = try reader.integer("METRICS_PORT", in: 0...65_535)
        metricsHost = try reader.string("METRICS_HOST") ?? metricsHost
        sentryDSN = try reader.string("SENTRY_DSN", isSecret: true)
        errorSampleRate = try reader.number("ERROR_SAMPLE_RATE", in: 0...1) ?? errorSampleRate
        if let format = try reader.string("LOG_FORMAT") {
            guard let value = LogFormat(rawValue: format.lowercased()) else {
                throw SettingsError(setting: "LOG_FORMAT", problem: "'\(format)' is not one of logfmt, json")
            }
            logFormat = value
        }
        logRequests = try reader.boolean("LOG_REQUESTS") ?? logRequests
    }
}
