import Foundation
import Hummingbird
import Database
import Synchronization

/// The requests being answered right now, so that a shutdown that runs out of time can say what it
/// was still waiting for (route, method, for how long), and a test can see that none is left.
public final class InFlightRequests: Sendable {
    public struct Request: Sendable {
        public let method: String
        public let path: String
        public let started: ContinuousClock.Instant
        public let progress: RequestProgress
    }
    private struct State {
        var next = 0
        var requests: [Int: Request] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    func begin(method: String, path: String, progress: RequestProgress) -> Int {
        state.withLock { state in
            state.next += 1
            state.requests[state.next] = Request(method: method, path: path, started: .now, progress: progress)
            return state.next
        }
    }

    func end(_ id: Int) {
        state.withLock { state in
            _ = state.requests.removeValue(forKey: id)
        }
    }

    /// Oldest first.
    public var current: [Request] { state.withLock { Array($0.requests.values) }.sorted { $0.started < $1.started } }

    /// One line per request still in flight, for a log.
    public func describe(now: ContinuousClock.Instant = .now) -> String {
        let requests = current
        guard !requests.isEmpty else { return "none" }
        return requests.prefix(20).map { request in
            let seconds = Double((now - request.started).components.seconds) + Double((now - request.started).components.attoseconds) / 1e18
            return "\(request.method) \(request.path) (\(String(format: "%.1f", seconds)) s, \(request.progress.current))"
        }.joined(separator: ", ") + (requests.count > 20 ? " and \(requests.count - 20) more" : "")
    }
}

/// Registers every request in `InFlightRequests` while it is answered (the outermost middleware).
struct InFlightMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let requests: InFlightRequests

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let progress = RequestProgress()
        let id = requests.begin(method: request.method.rawValue, path: request.uri.path, progress: progress)
        defer { requests.end(id) }
        return try await RequestStage.$progress.withValue(progress) { try await next(request, context) }
    }
}
