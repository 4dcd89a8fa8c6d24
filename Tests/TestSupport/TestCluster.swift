#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AppConfig
import Database
import ManagedPostgres
import Foundation
import Logging
import PostgresNIO

/// One throwaway PostgreSQL cluster per test run, started with the same code as the managed mode.
///
/// The schema is migrated once into a template database; every test database is a clone of it
/// (`CREATE DATABASE … TEMPLATE …`, a file copy), so suites run in parallel, each on its own data.
actor TestCluster {
    static let shared = TestCluster()

    static let templateName = "feedfusion_template"
    private var startup: Task<RunningPostgres, any Error>?
    private var databaseCount = 0

    /// The running cluster with a migrated template, started on first use.
    func server() async throws -> RunningPostgres {
        if startup == nil {
            startup = Task { try await Self.start() }
        }
        return try await startup!.value
    }

    /// A new database cloned from the migrated template (or empty, for migration tests).
    func createDatabase(migrated: Bool) async throws -> DatabaseURL {
        let server = try await server()
        databaseCount += 1
        let name = "test_\(getpid())_\(databaseCount)"
        // Serialised by the actor: clones of one template must not race each other.
        return try await server.database(named: name, template: migrated ? Self.templateName : nil, logger: testLogger)
    }

    private static func start() async throws -> RunningPostgres {
        let root = ProcessInfo.processInfo.environment["FEEDFUSION_TEST_TMP"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory
        let directory = root.appendingPathComponent("cluster-\(getpid())")
        let binDirectory = ProcessInfo.processInfo.environment["PG_BIN_DIR"].map { URL(fileURLWithPath: $0) }
            ?? Settings().postgresBinDirectory
        let cluster = LocalPostgresCluster(directory: directory, binDirectory: binDirectory, durability: .throwaway)
        let server = try await cluster.start(logger: testLogger)
        serverToStopAtExit = server
        atexit { serverToStopAtExit?.stopImmediately() }

        let templateURL = try await server.database(named: templateName, logger: testLogger)
        let client = PostgresClient(configuration: .init(url: templateURL, poolSize: 1), backgroundLogger: testLogger)
        try await withRunningClient(client) { client in
            try await Migrator.bundled().migrate(client: client, logger: testLogger)
        }
        return server
    }
}

/// Read by the process-exit hook, which cannot capture context; written once, before the hook is installed.
nonisolated(unsafe) private var serverToStopAtExit: RunningPostgres?

/// The tests' logger: quiet unless `TEST_LOG_LEVEL` asks for more.
public let testLogger: Logger = {
    var logger = Logger(label: "feedfusion.tests")
    logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .error
    return logger
}()
