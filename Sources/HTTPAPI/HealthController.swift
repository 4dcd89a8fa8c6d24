import Database
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import Synchronization

/// `GET /health` (the process answers) and `GET /ready` (the database answers and is migrated).
///
/// `/ready` asks the database at most once a second whoever calls: its answer is shared by every
/// request within that second (and by those that arrive while it is being worked out), so a flood of
/// probes costs the database nothing more, and no probe is refused as a rate limit would refuse it.
struct HealthController<Context: RequestContext>: Sendable {
    let client: PostgresClient
    let migrator: Migrator
    /// How long `/ready` waits for the database before calling it unreachable.
    let readinessTimeout: Duration
    let memo = ReadinessMemo()

    func addRoutes(to router: some RouterMethods<Context>) {
        router.endpoint("/health", [.get: { _, _ in try jsonResponse(["status": "ok"]) }])
        router.endpoint("/ready", [.get: { _, context in try await ready(logger: context.logger) }])
    }

    private func ready(logger: Logger) async throws -> Response {
        let state = await memo.value { await checkDatabase(logger: logger) }
        switch state {
        case .ready:
            return try jsonResponse(["status": "ready", "database": "ok"])
        case .pending(let count):
            return try jsonResponse(
                ["status": "not_ready", "database": "ok", "reason": "\(count) migration(s) pending"], status: .serviceUnavailable)
        case .unreachable(let reason):
            return try jsonResponse(
                ["status": "not_ready", "database": "unreachable", "reason": reason], status: .serviceUnavailable)
        }
    }


    func checkDatabase(logger: Logger) async -> ReadinessState {
        let state = await withTimeout(readinessTimeout) { () async -> ReadinessState in
            do {
                let pending = try await migrator.pending(client: client, logger: logger)
                return pending.isEmpty ? .ready : .pending(pending.count)
            } catch let error as MigrationError {
                return .unreachable(error.description)
            } catch {
                return .unreachable("the database did not answer")
            }
        }
        return state ?? .unreachable("no answer within \(readinessTimeout)")
    }
}

/// A small JSON object response.
func jsonResponse(_ object: [String: String], status: HTTPResponse.Status = .ok) throws -> Response {
    jsonResponse(bytes: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), status: status)
}

/// What `/ready` found out about the database.
enum ReadinessState: Sendable {
    case ready
    case pending(Int)
    case unreachable(String)
}

/// The last readiness answer and when it was started; one computation at a time.
final class ReadinessMemo: Sendable {
    static let lifetime: Duration = .seconds(1)
    private let state = Mutex<(task: Task<ReadinessState, Never>, started: ContinuousClock.Instant)?>(nil)

    func value(_ compute: @escaping @Sendable () async -> ReadinessState) async -> ReadinessState {
        let now = ContinuousClock.now
        let task = state.withLock { state -> Task<ReadinessState, Never> in
            if let current = state, current.started.duration(to: now) < Self.lifetime { return current.task }
            let task = Task { await compute() }
            state = (task, now)
            return task
        }
        return await task.value
    }
}
