import Foundation
import Testing
import TestSupport

/// A misconfigured server exits non-zero at once with one line that says what to fix.
@Suite("Bad configuration")
struct BadConfigurationTests {
    let workingDirectory: URL

    init() throws {
        workingDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("ff-cmd-\(UUID())")
        try FileManager.default.createDirectory(at: workingDirectory, withIntermediateDirectories: true)
    }

    func expectOneLineFailure(
        _ arguments: [String], _ environment: [String: String], mentioning fragments: [String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let outcome = try await CommandRunner.run(arguments, environment: environment, workingDirectory: workingDirectory)
        #expect(!outcome.timedOut, "the command hung", sourceLocation: sourceLocation)
        #expect(outcome.status != 0, sourceLocation: sourceLocation)
        let lines = outcome.standardError.split(separator: "\n")
        let failure = lines.last.map(String.init) ?? ""
        #expect(failure.hasPrefix("feedfusion: "), "got: \(outcome.standardError)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(failure.contains(fragment), "got: \(failure)", sourceLocation: sourceLocation)
        }
        #expect(!outcome.standardError.contains("Fatal error"), sourceLocation: sourceLocation)
    }

    @Test("an invalid port")
    func invalidPort() async throws {
        try await expectOneLineFailure(["serve"], ["PORT": "80800"], mentioning: ["PORT", "80800"])
        try await expectOneLineFailure(["serve"], ["PORT": "http"], mentioning: ["PORT"])
    }

    @Test("an unreachable DATABASE_URL")
    func unreachableDatabase() async throws {
        try await expectOneLineFailure(
            ["serve"],
            ["DATABASE_URL": "postgres://feedfusion:secret@127.0.0.1:1/feedfusion", "JWT_SECRET": String(repeating: "k", count: 40)],
            mentioning: ["cannot connect", "127.0.0.1:1", "DATABASE_URL"])
    }

    @Test("the password never appears in the message")
    func passwordStaysSecret() async throws {
        let outcome = try await CommandRunner.run(
            ["migrate"],
            environment: ["DATABASE_URL": "postgres://feedfusion:hunter2-secret@127.0.0.1:1/feedfusion"],
            workingDirectory: workingDirectory)
        #expect(outcome.status != 0)
        #expect(!outcome.standardError.contains("hunter2-secret"))
    }

    @Test("a malformed DATABASE_URL")
    func malformedDatabaseURL() async throws {
        try await expectOneLineFailure(["migrate"], ["DATABASE_URL": "mysql://x@y/z"], mentioning: ["DATABASE_URL"])
    }

    @Test("missing PostgreSQL binaries for the managed mode")
    func missingBinaries() async throws {
        try await expectOneLineFailure(
            ["migrate"], ["PG_BIN_DIR": "/nonexistent/bin", "DATA_DIR": workingDirectory.appendingPathComponent("data").path],
            mentioning: ["PostgreSQL 15 binaries not found", "/nonexistent/bin", "DATABASE_URL"])
    }

    @Test("a JWT secret that is too short")
    func shortSecret() async throws {
        try await expectOneLineFailure(["serve"], ["JWT_SECRET": "short"], mentioning: ["JWT_SECRET", "32"])
    }

    @Test("an unknown log level")
    func badLogLevel() async throws {
        try await expectOneLineFailure(["serve"], ["LOG_LEVEL": "loud"], mentioning: ["LOG_LEVEL"])
    }
}
