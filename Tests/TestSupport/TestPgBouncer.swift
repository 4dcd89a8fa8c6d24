import AppConfig
import Database
import Foundation
import ManagedPostgres

/// A throwaway PgBouncer (Debian's `pgbouncer`) on a free loopback port in front of one test
/// database, in the pool mode asked for; stopped at the end of the test. Clients log in as the
/// database's owner (trust on loopback; PgBouncer logs in to PostgreSQL with the owner's password).
public final class TestPgBouncer: @unchecked Sendable {
    public let port: Int
    public let url: DatabaseURL
    private let process: Process
    private let directory: URL

    public init(in front: TestDatabase, poolMode: String = "transaction", serverPoolSize: Int = 2) throws {
        port = try freeLoopbackPort()
        let root = ProcessInfo.processInfo.environment["FEEDFUSION_TEST_TMP"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory
        directory = root.appendingPathComponent("pgbouncer-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // PgBouncer refuses to run as root: it drops to `postgres`, which must reach these files.
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: directory.path)
        let target = front.url
        try #""\#(target.username)" "\#(target.password ?? "")""#.write(
            to: directory.appendingPathComponent("users.txt"), atomically: true, encoding: .utf8)
        try """
            [databases]
            \(target.database) = host=\(target.host) port=\(target.port) dbname=\(target.database)
            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = \(port)
            unix_socket_dir =
            auth_type = trust
            auth_file = \(directory.path)/users.txt
            pool_mode = \(poolMode)
            default_pool_size = \(serverPoolSize)
            max_client_conn = 200
            logfile = \(directory.path)/pgbouncer.log
            pidfile = \(directory.path)/pgbouncer.pid
            """.write(to: directory.appendingPathComponent("pgbouncer.ini"), atomically: true, encoding: .utf8)
        for name in ["users.txt", "pgbouncer.ini"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: directory.appendingPathComponent(name).path)
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["PGBOUNCER"] ?? "/usr/sbin/pgbouncer")
        process.arguments = (getuid() == 0 ? ["-u", "postgres"] : []) + [directory.appendingPathComponent("pgbouncer.ini").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var url = target
        url.host = "127.0.0.1"
        url.port = port
        self.url = url
        for _ in 0..<100 {
            if TestRedis.accepts(port: port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let log = (try? String(contentsOf: directory.appendingPathComponent("pgbouncer.log"), encoding: .utf8)) ?? ""
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "pgbouncer did not start on port \(port): \(log)"])
    }

    deinit { stop() }

    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
