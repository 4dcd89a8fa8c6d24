import Foundation

/// Runs the built `feedfusion` binary as an operator would, with a clean environment.
public enum CommandRunner {
    public struct Outcome: Sendable {
        public let status: Int32
        public let standardOutput: String
        public let standardError: String
        public let timedOut: Bool
    }

    /// The binary under test: `FEEDFUSION_BIN`, or `feedfusion` next to the test bundle.
    public static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["FEEDFUSION_BIN"] {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("feedfusion")
    }

    /// Runs `feedfusion arguments…` with only `environment` (plus PATH), killing it after `timeout`.
    public static func run(
        _ arguments: [String], environment: [String: String], workingDirectory: URL, timeout: Duration = .seconds(30)
    ) async throws -> Outcome {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { mine, _ in mine }
        process.currentDirectoryURL = workingDirectory
        let errors = Pipe()
        let output = Pipe()
        process.standardError = errors
        process.standardOutput = output
        try process.run()
        let deadline = ContinuousClock.now + timeout
        var timedOut = false
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                timedOut = true
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus,
            standardOutput: String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            standardError: String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            timedOut: timedOut)
    }
}
