import AppConfig
import Foundation
import Logging

/// A private PostgreSQL cluster in a folder of the project, run from the system's PostgreSQL 15 binaries.
///
/// Layout of `directory`:
/// - `data/`: the cluster (`PGDATA`), created by `initdb` on first start;
/// - `superuser-password`: the generated password of the `postgres` superuser (mode 0600);
/// - `server.log`: what the server printed;
/// - `port`: the loopback port of the running server (for psql and benchmarks).
///
/// The server listens on a free loopback port only (no unix socket, so no path-length or
/// permission surprises), and every connection needs the password.
public struct LocalPostgresCluster: Sendable {
    public enum Durability: Sendable {
        /// Normal crash safety: for the data a developer keeps.
        case durable
        /// fsync off: for throwaway test clusters, several times faster to create and fill.
        case throwaway
    }

    public let directory: URL
    public let binDirectory: URL
    public let durability: Durability

    public init(directory: URL, binDirectory: URL, durability: Durability = .durable) {
        self.directory = directory.standardizedFileURL
        self.binDirectory = binDirectory
        self.durability = durability
    }

    var dataDirectory: URL { directory.appendingPathComponent("data") }
    var passwordFile: URL { directory.appendingPathComponent("superuser-password") }
    var logFile: URL { directory.appendingPathComponent("server.log") }
    static let superuser = "postgres"

    /// Creates the cluster when needed, starts it, and waits until it accepts connections.
    public func start(logger: Logger) async throws -> RunningPostgres {
        try checkBinaries()
        let user = try ServerUser.current()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // The server user must be able to reach its data folder through ours.
        chmod(directory.path, 0o755)
        let password = try loadOrCreatePassword()
        if !FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) {
            try initialize(password: password, user: user, logger: logger)
        }
        var lastError: (any Error)?
        // A port picked as free can be taken before the server binds it; try a few.
        for _ in 0..<3 {
            let port = try freeLoopbackPort()
            do {
                return try await launch(port: port, password: password, user: user, logger: logger)
            } catch let error as PortInUse {
                lastError = error
                continue
            }
        }
        throw lastError ?? ManagedPostgresError("could not start PostgreSQL")
    }

    private func checkBinaries() throws {
        for binary in ["initdb", "postgres"] {
            let path = binDirectory.appendingPathComponent(binary).path
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw ManagedPostgresError(
                    "PostgreSQL 15 binaries not found in \(binDirectory.path) (no \(binary)): "
                        + "install postgresql-15 and postgresql-15-postgis-3, set PG_BIN_DIR, or set DATABASE_URL")
            }
        }
    }

    private func loadOrCreatePassword() throws -> String {
        try SecretFile(url: passwordFile).loadOrCreate { randomToken(bytes: 24) }
    }

    private func initialize(password: String, user: ServerUser, logger: Logger) throws {
        logger.info("creating the managed PostgreSQL cluster", metadata: ["directory": "\(dataDirectory.path)"])
        try? FileManager.default.removeItem(at: dataDirectory)
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: false)
        chmod(dataDirectory.path, 0o700)
        try user.takeOwnership(of: dataDirectory)
        // initdb reads the password from a file the server user can read; it lives only for this call.
        let passwordForInitdb = directory.appendingPathComponent("initdb-password")
        try SecretFile(url: passwordForInitdb).write(password)
        try user.takeOwnership(of: passwordForInitdb)
        defer { try? FileManager.default.removeItem(at: passwordForInitdb) }

        var arguments = [
            binDirectory.appendingPathComponent("initdb").path,
            "--pgdata=\(dataDirectory.path)", "--username=\(Self.superuser)", "--pwfile=\(passwordForInitdb.path)",
            "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale",
        ]
        if durability == .throwaway { arguments.append("--no-sync") }
        let result = try runToCompletion(user.commandPrefix + arguments)
        guard result.status == 0 else {
            try? FileManager.default.removeItem(at: dataDirectory)
            throw ManagedPostgresError("initdb failed: \(result.lastLine)")
        }
    }

    private func launch(port: Int, password: String, user: ServerUser, logger: Logger) async throws -> RunningPostgres {
        var arguments = [
            binDirectory.appendingPathComponent("postgres").path,
            "-D", dataDirectory.path, "-p", "\(port)",
            "-c", "listen_addresses=127.0.0.1",
            "-c", "unix_socket_directories=",
            "-c", "max_connections=200",
        ]
        if durability == .throwaway {
            arguments += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        }
        let logStart = (try? FileManager.default.attributesOfItem(atPath: logFile.path)[.size] as? Int) ?? 0
        let process = try ServerProcess.launch(user.commandPrefix + arguments, logFile: logFile)
        let url = DatabaseURL(
            host: "127.0.0.1", port: port, username: Self.superuser, password: password, database: "postgres", tls: .disable)
        let server = RunningPostgres(url: url, process: process)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if !process.isRunning {
                let log = serverLog(since: logStart)
                if log.contains("could not bind") || log.contains("Address already in use") { throw PortInUse() }
                if log.contains("lock file \"postmaster.pid\" already exists") {
                    throw ManagedPostgresError(
                        "the managed PostgreSQL in \(dataDirectory.path) is already running (another feedfusion serve?); "
                            + "stop it or set DATA_DIR to another folder")
                }
                let reason = log.split(separator: "\n").last(where: { $0.contains("FATAL") || $0.contains("ERROR") })
                throw ManagedPostgresError(
                    "PostgreSQL exited while starting: \(reason.map(String.init) ?? "see \(logFile.path)")")
            }
            if await server.acceptsConnections(logger: logger) {
                // For psql and tools: the port changes every start; the password is in superuser-password.
                try? "\(port)\n".write(to: directory.appendingPathComponent("port"), atomically: true, encoding: .utf8)
                logger.info("managed PostgreSQL is running", metadata: ["url": "\(url.redacted)"])
                return server
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        await server.stop()
        throw ManagedPostgresError("PostgreSQL did not accept connections within 60 s; see \(logFile.path)")
    }

    private func serverLog(since offset: Int) -> String {
        guard let handle = try? FileHandle(forReadingFrom: logFile) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: UInt64(offset))
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    }
}

private struct PortInUse: Error {}
