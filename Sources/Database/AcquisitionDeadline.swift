import PostgresNIO
import Synchronization

/// No pooled connection became free within the deadline: every connection stayed busy, or the
/// database cannot be reached and the pool keeps retrying. PostgREST answers this `504 PGRST003`.
public struct ConnectionAcquisitionTimeout: Error, CustomStringConvertible, Sendable {
    public let timeout: Duration
    public var description: String { "no database connection became free within \(timeout)" }
}

extension PostgresClient {
    /// How long `withCaller` waits for a pooled connection unless told otherwise (PostgREST's default).
    public static let defaultAcquisitionTimeout: Duration = .seconds(10)
}

/// Runs `operation`, which must call `acquired()` as soon as it holds a connection; throws
/// ``ConnectionAcquisitionTimeout`` (and cancels the wait for a connection, which the pool supports)
/// when that has not happened within `timeout`. Once acquired, the operation runs to its end.
func withAcquisitionDeadline<Result: Sendable>(
    _ timeout: Duration,
    _ operation: @escaping @Sendable (_ acquired: @escaping @Sendable () throws -> Void) async throws -> Result
) async throws -> Result {
    let gate = AcquisitionGate()
    return try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask {
            try await operation {
                // Too late: the caller has been told it timed out; give the connection back at once.
                if !gate.acquire() { throw CancellationError() }
            }
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            if gate.expire() { throw ConnectionAcquisitionTimeout(timeout: timeout) }
            return nil  // acquired in time: the operation decides how this ends
        }
        while let next = try await group.next() {
            if let result = next {
                group.cancelAll()  // the deadline's sleep
                return result
            }
        }
        throw CancellationError()  // unreachable: the operation either returns or throws
    }
}

/// Whichever comes first, the connection or the deadline, wins; the other learns it lost.
private final class AcquisitionGate: Sendable {
    private enum State { case waiting, acquired, expired }
    private let state = Mutex(State.waiting)

    /// True when the connection came in time.
    func acquire() -> Bool {
        state.withLock { state in
            guard state == .waiting else { return false }
            state = .acquired
            return true
        }
    }

    /// True when the deadline passed before a connection came.
    func expire() -> Bool {
        state.withLock { state in
            guard state == .waiting else { return false }
            state = .expired
            return true
        }
    }
}

/// A value handed to a child task that the caller outlives and does not touch meanwhile.
struct UncheckedSendableBox<Value>: @unchecked Sendable {
    let value: Value
}
