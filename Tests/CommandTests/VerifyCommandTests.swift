import Foundation
import PostgresNIO
import Testing
import TestSupport

@Suite("feedfusion verify")
struct VerifyCommandTests {
    func verify(_ database: TestDatabase, _ arguments: [String]) async throws -> CommandRunner.Outcome {
        let url = database.url
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("verify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let databaseURL = "postgres://\(url.username):\(url.password ?? "")@\(url.host):\(url.port)/\(url.database)?sslmode=disable"
        return try await CommandRunner.run(
            ["verify"] + arguments,
            environment: ["DATABASE_URL": databaseURL, "JWT_SECRET": String(repeating: "k", count: 40), "LOG_LEVEL": "error"],
            workingDirectory: directory)
    }

    @Test("a migrated database is ready (exit 0, JSON with every check PASS); RLS switched off fails with the table named")
    func report() async throws {
        let database = try await TestDatabase.migrated()
        let good = try await verify(database, ["--json"])
        #expect(good.status == 0, "\(good.standardError)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(good.standardOutput.utf8)) as? [String: Any])
        #expect(report["ok"] as? Bool == true)
        let checks = try #require(report["checks"] as? [[String: Any]])
        #expect(checks.count >= 5)
        #expect(checks.allSatisfy { $0["status"] as? String == "PASS" })

        try await database.withClient { try await $0.query("ALTER TABLE public.post_likes DISABLE ROW LEVEL SECURITY") }
        let bad = try await verify(database, [])
        #expect(bad.status == 1)
        #expect(bad.standardOutput.contains("FAIL  rls_enabled_and_forced"))
        #expect(bad.standardOutput.contains("public.post_likes (RLS off)"))
        #expect(bad.standardOutput.contains("not ready"))
    }
}
