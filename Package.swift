// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "FeedFusion",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "feedfusion", targets: ["feedfusion"]),
    ],
    dependencies: [
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.27.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.1.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.20.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.20.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.30.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
    ],
    targets: [
        // Settings read from the environment and an optional `.env` file, validated once.
        .target(
            name: "AppConfig",
            dependencies: [
                "Redis",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // A PostgreSQL cluster of the server's own, when no database URL is given: initdb, start,
        // supervise, stop (a service in the process's ServiceGroup).
        .target(
            name: "ManagedPostgres",
            dependencies: [
                "AppConfig",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // What `verify`, start-up and the dashboard check of a database before trusting it: roles,
        // policies, indexes, plans, pooling, telemetry partitions, configuration.
        .target(
            name: "DatabaseReadiness",
            dependencies: [
                "AppConfig",
                "Database",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // PostgreSQL as the request path uses it: migrations, pools, running SQL under a caller's
        // role, write fences, connection faults.
        .target(
            name: "Database",
            dependencies: [
                "AppConfig",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Migrations")],
            swiftSettings: swiftSettings
        ),
        // In-memory rate limiting (GCRA), shared by the HTTP limits and the auth abuse limits.
        .target(
            name: "RateLimiting",
            dependencies: [
                "Redis",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The answer cache: single flight, early refresh, stale on failure, invalidation from NOTIFY,
        // and an optional second level in Redis shared by every instance.
        .target(
            name: "FeedCache",
            dependencies: [
                "Database",
                "Redis",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // A small Redis client on SwiftNIO: RESP2/RESP3, pipelining, a pool, timeouts, scripts, pub/sub.
        .target(
            name: "Redis",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // What an operator reads: RPC observations and errors written off the request path, Prometheus
        // metrics, telemetry partitions and their retention, error reports to Sentry.
        .target(
            name: "Observability",
            dependencies: [
                "Database",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // PostgREST-compatible data API: schema cache, query grammar, SQL built from both.
        .target(
            name: "DataAPI",
            dependencies: [
                "Database",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // GoTrue-compatible accounts: passwords, sessions, JWTs, and the caller a request runs as.
        .target(
            name: "Auth",
            dependencies: [
                "AppConfig",
                "Database",
                "Mail",
                "RateLimiting",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: swiftSettings
        ),
        // The admin dashboard's pages, styles and scripts (served by HTTPAPI), and its session cookie.
        .target(
            name: "Dashboard",
            dependencies: ["WebAssets"],
            resources: [.copy("Resources")],
            swiftSettings: swiftSettings
        ),
        // Mail the auth service sends: an SMTP client (STARTTLS, implicit TLS, AUTH PLAIN), or the log.
        .target(
            name: "Mail",
            dependencies: [
                "AppConfig",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the browser-facing parts share: static files with ETags, the session cookie.
        .target(
            name: "WebAssets",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // The social app in the browser at `/`: pages, styles and scripts (served by HTTPAPI).
        .target(
            name: "WebApp",
            dependencies: ["WebAssets"],
            resources: [.copy("Resources")],
            swiftSettings: swiftSettings
        ),
        // Supabase Realtime's protocol on WebSockets: Phoenix channels, broadcast, presence, and
        // private channels authorized by the database.
        .target(
            name: "Realtime",
            dependencies: [
                "AppConfig",
                "Auth",
                "Database",
                "RateLimiting",
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP surface: router, middleware, health and readiness.
        .target(
            name: "HTTPAPI",
            dependencies: [
                "DatabaseReadiness",
                "AppConfig",
                "Auth",
                "Dashboard",
                "DataAPI",
                "Database",
                "FeedCache",
                "Observability",
                "RateLimiting",
                "Realtime",
                "WebApp",
                "WebAssets",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // `feedfusion loadtest`: virtual users (closed model) or arrivals (open model) against a running
        // server, HdrHistogram latencies, k6-style thresholds and summary.
        .target(
            name: "LoadTest",
            dependencies: [
                "DatabaseReadiness",
                "Database",
                "FeedCache",
                "Seeding",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // A realistic, reproducible data set (users, follows, posts…) generated and bulk-loaded with COPY.
        .target(
            name: "Seeding",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The `feedfusion` subcommands (serve, migrate, …), kept out of the executable so tests can use them.
        .target(
            name: "Commands",
            dependencies: [
                "DatabaseReadiness",
                "ManagedPostgres",
                "AppConfig",
                "Auth",
                "Database",
                "HTTPAPI",
                "LoadTest",
                "Observability",
                "Redis",
                "Seeding",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "feedfusion",
            dependencies: ["Commands"],
            swiftSettings: swiftSettings
        ),
        // The test harness: one throwaway cluster per run, a migrated template, a fresh database per suite.
        .target(
            name: "TestSupport",
            dependencies: [
                "ManagedPostgres",
                "AppConfig",
                "Database",
                "Seeding",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DatabaseTests",
            dependencies: ["DatabaseReadiness", "Database", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DataAPITests",
            dependencies: ["DataAPI", "TestSupport", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AuthTests",
            dependencies: [
                "Auth", "TestSupport",
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HTTPAPITests",
            dependencies: [
                "Dashboard", "HTTPAPI", "LoadTest", "ManagedPostgres", "TestSupport", "WebApp", "WebAssets",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MailTests",
            dependencies: ["Mail"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FeedCacheTests",
            dependencies: ["FeedCache", "Redis", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ObservabilityTests",
            dependencies: [
                "Observability", "Database", "TestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LoadTestTests",
            dependencies: [
                "LoadTest", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RedisTests",
            dependencies: ["Redis", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SeedingTests",
            dependencies: ["Seeding", "Auth", "Database", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CommandTests",
            dependencies: ["Database", "ManagedPostgres", "TestSupport", .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: swiftSettings
        ),
    ]
)
