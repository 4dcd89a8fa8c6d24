#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A generated secret kept in a file only its owner can read (mode 0600), so that restarts reuse it.
public struct SecretFile: Sendable {
    public let url: URL

    public init(url: URL) {
        self.url = url
    }

    /// The stored secret, or a new one from `generate`, written before it is returned.
    public func loadOrCreate(_ generate: () -> String) throws -> String {
        if let existing = try? String(contentsOf: url, encoding: .utf8) {
            let trimmed = existing.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { return trimmed }
        }
        let secret = generate()
        try write(secret)
        return secret
    }

    public func write(_ secret: String) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        // Create with 0600 before any byte is written, so the secret is never readable by others.
        FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600])
        chmod(url.path, 0o600)
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(secret.utf8))
    }
}

/// A random URL-safe token, for generated passwords and secrets.
public func randomToken(bytes: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    let data = Data((0..<bytes).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    return data.base64EncodedString()
        .replacingOccurrences(of: "+", with: "-")
        .replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}
