import AppConfig
import Database
import Foundation
import ManagedPostgres

/// A streaming replica of the test cluster (`pg_basebackup -R`, then a hot standby on a free
/// loopback port), for one test; stopped at its end. It replays everything the primary writes,
/// every database of it.
public final class TestReplica: @unchecked Sendable {
    public let port: Int
    private let process: Process
    private let directory: URL
    private let primary: DatabaseURL

    /// A replica of `database`'s cluster; `url(of:)` gives a database on it.
    public init(of database: TestDatabase) throws {
        primary = database.url
        port = try freeLoopbackPort()
        let root = ProcessInfo.processInfo.environment["FEEDFUSION_TEST_TMP"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory
        directory = root.appendingPathComponent("replica-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let asServer = getuid() == 0 ? ["/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] : []
        if getuid() == 0, let entry = getpwnam("postgres") { chown(directory.path, entry.pointee.pw_uid, entry.pointee.pw_gid) }
        chmod(directory.path, 0o700)
        let bin = ProcessInfo.processInfo.environment["PG_BIN_DIR"] ?? Settings().postgresBinDirectory.path
        let connection = "host=\(primary.host) port=\(primary.port) user=\(primary.username) password=\(primary.password ?? "")"
        let backup = Process()
        backup.executableURL = URL(fileURLWithPath: asServer.first ?? "\(bin)/pg_basebackup")
        backup.arguments = Array(asServer.dropFirst()) + (asServer.isEmpty ? [] : ["\(bin)/pg_basebackup"])
            + ["-d", connection, "-D", directory.path, "-R", "-X", "stream", "--no-sync", "--checkpoint=fast"]
        backup.standardOutput = FileHandle.nullDevice
        backup.standardError = FileHandle.nullDevice
        try backup.run()
        backup.waitUntilExit()
        guard backup.terminationStatus == 0 else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "pg_basebackup failed (\(backup.terminationStatus))"])
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: asServer.first ?? "\(bin)/postgres")
        process.arguments = Array(asServer.dropFirst()) + (asServer.isEmpty ? [] : ["\(bin)/postgres"]) + [
            "-D", directory.path, "-p", "\(port)", "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
            "-c", "hot_standby=on", "-c", "fsync=off", "-c", "max_connections=200",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<200 {
            if TestRedis.accepts(port: port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "the replica did not start on port \(port)"])
    }

    deinit { stop() }

    /// `database` as read on this replica (same name, same owner credentials).
    public func url(of database: TestDatabase) -> DatabaseURL {
        var url = database.url
        url.host = "127.0.0.1"
        url.port = port
        return url
    }

    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGINT)  // fast shutdown
        process.waitUntilExit()
    }
}
