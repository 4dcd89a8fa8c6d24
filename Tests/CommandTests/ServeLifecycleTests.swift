#if canImport(Glibc)
import Glibc
#endif
import Database
import Foundation
import ManagedPostgres
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TestSupport

/// `feedfusion serve` with no DATABASE_URL: manages its own PostgreSQL, migrates, serves, and
/// on SIGTERM stops the server and the database, exiting 0.
@Suite("Serving with the managed PostgreSQL")
struct ServeLifecycleTests {
    @Test("start, answer /ready, shut down gracefully on SIGTERM, and keep the data across restarts")
    func lifecycle() async throws {
        let root = URL(fileURLWithPath: ProcessInfo.processInfo.environment["FEEDFUSION_TEST_TMP"] ?? NSTemporaryDirectory())
            .appendingPathComponent("serve-\(UUID())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        chmod(root.path, 0o755)
        let dataDirectory = root.appendingPathComponent("data")

        for round in 1...2 {
            let port = try freeLoopbackPort()
            let process = Process()
            process.executableURL = CommandRunner.binary
            process.arguments = ["serve"]
            process.environment = ["PATH": "/usr/bin:/bin", "PORT": "\(port)", "DATA_DIR": dataDirectory.path, "LOG_LEVEL": "warning"]
            process.currentDirectoryURL = root
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()

            let ready = await waitForStatus(url: URL(string: "http://127.0.0.1:\(port)/ready")!, expected: 200, timeout: .seconds(90))
            #expect(ready, "round \(round): /ready never answered 200")

            kill(process.processIdentifier, SIGTERM)
            let deadline = ContinuousClock.now + .seconds(30)
            while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            #expect(!process.isRunning, "round \(round): serve did not exit after SIGTERM")
            if process.isRunning { process.interrupt(); kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            // The managed PostgreSQL stopped with it.
            let pidFile = dataDirectory.appendingPathComponent("postgres/data/postmaster.pid")
            #expect(!FileManager.default.fileExists(atPath: pidFile.path), "round \(round): PostgreSQL still running")
        }
        // The generated secrets are private to the owner.
        for secret in ["jwt-secret", "postgres/superuser-password"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: dataDirectory.appendingPathComponent(secret).path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(secret) is readable by others")
        }
    }

    func waitForStatus(url: URL, expected: Int, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let (_, response) = try? await URLSession.shared.data(from: url),
                (response as? HTTPURLResponse)?.statusCode == expected
            {
                return true
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
        return false
    }
}
