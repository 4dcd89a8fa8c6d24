import Synchronization

/// Runs `operation`, giving up after `timeout`: the operation's result, or nil when it took too long
/// or failed. For checks that must not hang when the database is away (readiness, start-up loads,
/// a metrics scrape).
///
/// It returns at the timeout even when the operation does not react to cancellation (a statement
/// whose result PostgresNIO lost never returns, see `untilConnectionLost`): the operation is
/// cancelled and left to end on its own, instead of being awaited as a task group would.
public func withTimeout<Result: Sendable>(
    _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> Result
) async -> Result? {
    let first = FirstOutcome<Result?>()
    return await withCheckedContinuation { continuation in
        first.start(continuation)
        let work = Task {
            let result = try? await operation()
            first.resume(result)
        }
        Task {
            try? await Task.sleep(for: timeout)
            if first.resume(nil) { work.cancel() }
        }
    }
}

/// A continuation resumed once, by whichever outcome comes first.
final class FirstOutcome<Value: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<Value, Never>?>(nil)

    func start(_ continuation: CheckedContinuation<Value, Never>) { self.continuation.withLock { $0 = continuation } }

    /// True when this outcome was the first.
    @discardableResult
    func resume(_ value: Value) -> Bool {
        let waiting = continuation.withLock { waiting in
            defer { waiting = nil }
            return waiting
        }
        waiting?.resume(returning: value)
        return waiting != nil
    }
}
