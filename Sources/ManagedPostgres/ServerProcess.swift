#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A child process, wrapped so that it can be shared across tasks.
final class ServerProcess: @unchecked Sendable {
    // Foundation's Process is internally synchronised; we only read `isRunning` and signal its pid.
    private let process: Process

    private init(process: Process) {
        self.process = process
    }

    var pid: pid_t { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    static func launch(_ command: [String], logFile: URL) throws -> ServerProcess {
        if !FileManager.default.fileExists(atPath: logFile.path) {
            FileManager.default.createFile(atPath: logFile.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logFile)
        try log.seekToEnd()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        do {
            try process.run()
        } catch {
            throw ManagedPostgresError("cannot run \(command[0]): \(error.localizedDescription)")
        }
        try? log.close()
        return ServerProcess(process: process)
    }

    func signal(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits for the process to end, polling so that the wait can be cancelled.
    func waitForExit(timeout: Duration? = nil) async -> Bool {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while process.isRunning {
            if let deadline, ContinuousClock.now >= deadline { return false }
            if Task.isCancelled { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return true
    }
}

/// Runs a short command to its end and keeps what it printed.
func runToCompletion(_ command: [String]) throws -> (status: Int32, lastLine: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst())
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
    let meaningful = lines.last(where: { $0.contains("error") || $0.contains("FATAL") }) ?? lines.last ?? ""
    return (process.terminationStatus, String(meaningful))
}
