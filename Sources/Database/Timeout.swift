/// Runs `operation`, giving up after `timeout`: the operation's result, or nil when it took too long
/// or failed. For checks that must not hang when the database is away (readiness, start-up loads).
public func withTimeout<Result: Sendable>(
    _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> Result
) async -> Result? {
    await withTaskGroup(of: Result?.self) { group in
        group.addTask { try? await operation() }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
