import Foundation

/// Polls `condition` every 50 ms, at most `attempts` times: for what arrives asynchronously (NOTIFY-driven
/// invalidation, telemetry written in batches, a report sent in the background).
public func eventually(attempts: Int = 60, _ condition: () async throws -> Bool) async throws -> Bool {
    for _ in 0..<attempts {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return false
}
