import Configuration
import Foundation
import Logging
import Redis

/// Every setting FeedFusion reads, validated once at start.
///
/// Values come from the process environment first, then from an optional `.env` file in the
/// working directory. A value that is present but malformed is an error, never silently the default:
/// an operator who typed `PORT=8o80` wants to hear about it.
public struct Settings: Sendable {
    /// Interface the HTTP server binds to.
    public var host: String
    /// TCP port of the HTTP server (0 picks a free one).
    public var port: Int
    /// External PostgreSQL; `nil` means FeedFusion manages a private local cluster.
    public var databaseURL: DatabaseURL?
    /// The login role requests run on, when the operator names their own; otherwise the server sets
    /// up `authenticator` itself from the owner's connection.
    public var databaseAuthenticatorURL: DatabaseURL?
    /// Read replicas (streaming standbys of the primary) that may answer read-only requests.
    public var databaseReplicaURLs: [DatabaseURL] = []
    /// A replica further behind the primary than this is not read.
    public var replicaMaxLagMilliseconds = 5000
    /// Named (prepared once per connection) statements on the request path: nil decides by probing
    /// the request pool at start-up (off behind a transaction pooler).
    public var databasePreparedStatements: Bool?
    /// Folder for the managed cluster, generated secrets and other local state.
    public var dataDirectory: URL
    /// Maximum connections in the PostgreSQL pool.
    public var databasePoolSize: Int
    /// swift-log level for the whole process.
    public var logLevel: Logger.Level
    /// Levels of single modules (`LOG_LEVEL=info,http=warning`): http, telemetry, auth, data, cache, redis.
    public var moduleLogLevels: [String: Logger.Level] = [:]
    /// Apply pending migrations when `serve` starts.
    public var migrateOnStart: Bool
    /// HS256 secret for JWTs; generated and kept in `dataDirectory` in managed mode when absent.
    public var jwtSecret: String?
    /// Where the PostgreSQL 15 server binaries live (managed mode only).
    public var postgresBinDirectory: URL
    /// The auth service (`/auth/v1`).
    public var auth: AuthSettings = AuthSettings()
    /// Mail the auth service sends (SMTP), and its one-time tokens.
    public var mail: MailSettings = MailSettings()
    /// Request rate limits and which proxies may name the client address.
    public var rateLimits: RateLimitSettings = RateLimitSettings()
    /// Redis, optional: when set, rate limits are shared by every instance through it.
    public var redis: RedisEndpoint?
    /// The feed cache and HTTP caching headers.
    public var cache: CacheSettings = CacheSettings()
    /// `/realtime/v1`: its limits.
    public var realtime: RealtimeSettings = RealtimeSettings()
    /// Observations, telemetry retention, metrics, error tracking, request logs.
    public var observability: ObservabilitySettings = ObservabilitySettings()
    /// Schemas the data API exposes (the first is the default profile).
    public var exposedSchemas: [String] = ["public"]
    /// Most rows one data-API read returns, and one to-many embed per parent row.
    public var maxRows: Int = 1000
    /// Largest data-API answer body, in bytes; a bigger one is refused with 413 (PGRST413).
    public var maxResponseBytes: Int = 16 << 20
    /// `statement_timeout` of data-API requests as `anon` or `authenticated`, in milliseconds.
    public var statementTimeoutMilliseconds: Int = 8000
    /// How long a request waits for a pooled connection before `504 PGRST003`, in milliseconds
    /// (PostgREST's db-pool-acquisition-timeout).
    public var poolAcquisitionTimeoutMilliseconds: Int = 10_000
    public var poolAcquisitionTimeout: Duration { .milliseconds(poolAcquisitionTimeoutMilliseconds) }
    /// The longest a graceful shutdown (SIGTERM, SIGINT) may take: then the process logs what it was
    /// still waiting for, stops the managed PostgreSQL and exits anyway.
    public var shutdownTimeoutSeconds: Int = 10

    public init(
        host: String = "127.0.0.1",
        port: Int = 54321,
        databaseURL: DatabaseURL? = nil,
        dataDirectory: URL = URL(fileURLWithPath: ".feedfusion"),
        databasePoolSize: Int = 10,
        logLevel: Logger.Level = .info,
        migrateOnStart: Bool = true,
        jwtSecret: String? = nil,
        postgresBinDirectory: URL = URL(fileURLWithPath: "/usr/lib/postgresql/15/bin")
    ) {
        self.host = host
        self.port = port
        self.databaseURL = databaseURL
        self.dataDirectory = dataDirectory
        self.databasePoolSize = databasePoolSize
        self.logLevel = logLevel
        self.migrateOnStart = migrateOnStart
        self.jwtSecret = jwtSecret
        self.postgresBinDirectory = postgresBinDirectory
    }

    /// True when FeedFusion starts and owns its PostgreSQL.
    public var isManagedDatabase: Bool { databaseURL == nil }

    /// Where `feedfusion loadtest` leaves its last run's figures (JSON), for the dashboard.
    public var lastLoadTestSummary: URL { dataDirectory.appendingPathComponent("last-loadtest.json") }

    /// The base URL clients use: `API_EXTERNAL_URL`, or this server's own address.
    public var externalURL: String {
        auth.externalURL ?? "http://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(port)"
    }

    /// Schemas the data API never exposes: the server's own, the extensions', and the catalogs.
    static let privateSchemas: Set<String> = ["auth", "internal", "realtime", "feedfusion", "extensions", "pg_catalog", "information_schema"]

    /// Secret values that must never reach a log line.
    static let secretKeys: Set<String> = ["DATABASE_URL", "DATABASE_AUTHENTICATOR_URL", "DATABASE_REPLICA_URLS", "DATABASE_REPLICA_URL", "JWT_SECRET", "REDIS_URL", "METRICS_TOKEN", "SENTRY_DSN"]
}

extension Settings {
    /// Reads settings from the environment and, when it exists, `envFile` (default `.env`).
    public static func load(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        envFile: String? = ".env"
    ) async throws -> Settings {
        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: .specific(secretKeys))
        ]
        if let envFile {
            do {
                providers.append(
                    try await EnvironmentVariablesProvider(
                        environmentFilePath: .init(envFile),
                        allowMissing: true,
                        secretsSpecifier: .specific(secretKeys)
                    )
                )
            } catch {
                throw SettingsError(setting: envFile, problem: "the .env file could not be read (\(error))")
            }
        }
        return try Settings(reader: SettingsReader(config: ConfigReader(providers: providers)))
    }

    init(reader: SettingsReader) throws {
        let defaults = Settings()
        self.init()
        host = try reader.string("HOST") ?? defaults.host
        port = try reader.integer("PORT", in: 0...65_535) ?? defaults.port
        func postgresURL(_ name: String) throws -> DatabaseURL? {
            try reader.string(name, isSecret: true).map { raw in
                do { return try DatabaseURL(parsing: raw) } catch let error as DatabaseURL.ParseError {
                    throw SettingsError(setting: name, problem: error.description)
                }
            }
        }
        databaseURL = try postgresURL("DATABASE_URL")
        databaseAuthenticatorURL = try postgresURL("DATABASE_AUTHENTICATOR_URL")
        databasePreparedStatements = try reader.boolean("DB_PREPARED_STATEMENTS")
        // DATABASE_REPLICA_URL (the name issue 22 gave it) is read too: one URL is a list of one.
        if let list = try reader.string("DATABASE_REPLICA_URLS", isSecret: true) ?? reader.string("DATABASE_REPLICA_URL", isSecret: true) {
            databaseReplicaURLs = try list.split(separator: ",").map { part in
                do { return try DatabaseURL(parsing: part.trimmingCharacters(in: .whitespaces)) } catch let error as DatabaseURL.ParseError {
                    throw SettingsError(setting: "DATABASE_REPLICA_URLS", problem: error.description)
                }
            }
        }
        replicaMaxLagMilliseconds = try reader.integer("REPLICA_MAX_LAG_MS", in: 0...600_000) ?? replicaMaxLagMilliseconds
        dataDirectory = try reader.string("DATA_DIR").map { URL(fileURLWithPath: $0) } ?? defaults.dataDirectory
        databasePoolSize = try reader.integer("DB_POOL_SIZE", in: 1...500) ?? defaults.databasePoolSize
        // `info`, or per module: `info,http=warning,telemetry=debug`.
        if let raw = try reader.string("LOG_LEVEL") {
            for part in raw.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
                guard let level = Logger.Level(rawValue: pair.last!.lowercased()) else {
                    throw SettingsError(
                        setting: "LOG_LEVEL",
                        problem: "'\(part)' is not one of trace, debug, info, notice, warning, error, critical (or module=level)")
                }
                if pair.count == 2 { moduleLogLevels[pair[0].lowercased()] = level } else { logLevel = level }
            }
        }
        migrateOnStart = try reader.boolean("MIGRATE_ON_START") ?? defaults.migrateOnStart
        shutdownTimeoutSeconds = try reader.integer("SHUTDOWN_TIMEOUT_SECONDS", in: 1...3600) ?? defaults.shutdownTimeoutSeconds
        jwtSecret = try reader.string("JWT_SECRET", isSecret: true)
        postgresBinDirectory = try reader.string("PG_BIN_DIR").map { URL(fileURLWithPath: $0) } ?? defaults.postgresBinDirectory
        auth = try AuthSettings(reader: reader)
        mail = try MailSettings(reader: reader)
        rateLimits = try RateLimitSettings(reader: reader)
        cache = try CacheSettings(reader: reader)
        realtime = try RealtimeSettings(reader: reader)
        observability = try ObservabilitySettings(reader: reader)
        redis = try reader.string("REDIS_URL", isSecret: true).map { raw in
            guard let endpoint = RedisEndpoint(url: raw) else {
                throw SettingsError(setting: "REDIS_URL", problem: "expected redis://[[user]:password@]host[:port][/db]")
            }
            return endpoint
        }
        if let schemas = try reader.string("DB_SCHEMAS") {
            exposedSchemas = schemas.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if exposedSchemas.isEmpty || exposedSchemas.contains(where: { Self.privateSchemas.contains($0.lowercased()) || $0.lowercased().hasPrefix("pg_") }) {
                throw SettingsError(
                    setting: "DB_SCHEMAS",
                    problem: "list schemas to expose, such as public; \(Self.privateSchemas.sorted().joined(separator: ", ")) and pg_* stay private")
            }
        }
        maxRows = try reader.integer("DB_MAX_ROWS", in: 1...100_000) ?? defaults.maxRows
        maxResponseBytes = try reader.integer("DB_MAX_RESPONSE_BYTES", in: 1024...1 << 30) ?? defaults.maxResponseBytes
        statementTimeoutMilliseconds = try reader.integer("DB_STATEMENT_TIMEOUT_MS", in: 100...600_000) ?? defaults.statementTimeoutMilliseconds
        poolAcquisitionTimeoutMilliseconds = try reader.integer("DB_POOL_ACQUISITION_TIMEOUT_MS", in: 100...600_000)
            ?? defaults.poolAcquisitionTimeoutMilliseconds
        if let jwtSecret, jwtSecret.utf8.count < 32 {
            throw SettingsError(setting: "JWT_SECRET", problem: "must be at least 32 bytes long (got \(jwtSecret.utf8.count))")
        }
    }
}

extension Settings {
    /// The logger of one module (`feedfusion.<module>`), at that module's level.
    public func logger(_ base: Logger, module: String) -> Logger {
        var logger = Logger(label: "\(base.label).\(module)")
        logger.logLevel = moduleLogLevels[module] ?? base.logLevel
        return logger
    }
}
