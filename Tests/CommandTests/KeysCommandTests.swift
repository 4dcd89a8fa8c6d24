import Foundation
import Testing
import TestSupport

@Suite("feedfusion keys")
struct KeysCommandTests {
    func keys(_ environment: [String: String], in directory: URL) async throws -> [String: String] {
        let outcome = try await CommandRunner.run(["keys", "--json"], environment: environment, workingDirectory: directory)
        #expect(outcome.status == 0)
        return (try? JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8))) as? [String: String] ?? [:]
    }

    @Test("prints the URL and stable anon and service_role keys from the data folder's secret")
    func stableKeys() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ff-keys-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let environment = ["DATA_DIR": directory.appendingPathComponent("data").path, "PORT": "54999"]
        let first = try await keys(environment, in: directory)
        #expect(first["url"] == "http://127.0.0.1:54999")
        #expect(first["anon_key"]?.split(separator: ".").count == 3)
        #expect(first["service_role_key"] != first["anon_key"])
        let payload = try #require(first["anon_key"]?.split(separator: ".")[1])
        var base64 = payload.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        let claims = try JSONSerialization.jsonObject(with: try #require(Data(base64Encoded: base64))) as? [String: Any]
        #expect(claims?["role"] as? String == "anon")
        #expect(claims?["iss"] as? String == "feedfusion")

        // Same data folder, same secret, same keys: scripts can keep them.
        #expect(try await keys(environment, in: directory) == first)
        let secretFile = directory.appendingPathComponent("data/jwt-secret").path
        #expect((try FileManager.default.attributesOfItem(atPath: secretFile)[.posixPermissions] as? Int) == 0o600)

        // A configured secret wins and changes the keys.
        let configured = try await keys(environment.merging(["JWT_SECRET": String(repeating: "z", count: 40)]) { $1 }, in: directory)
        #expect(configured["anon_key"] != first["anon_key"])
    }
}
