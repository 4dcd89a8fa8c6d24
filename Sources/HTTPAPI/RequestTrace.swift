import Database
import Synchronization

/// What the layers of one request learn about it, for the request log, the metrics and
/// `rpc_observations`: the context is copied from middleware to handler, this is shared.
final class RequestTrace: Sendable {
    struct State: Sendable {
        var requestID = ""
        /// The function (`rpc/…`) or table a data-API request addressed; nil for other routes.
        var function: String?
        var caller: Caller = .anonymous
        /// hit, miss, stale, coalesced or bypass.
        var cacheResult: String?
        var databaseTime: Duration?
        var errorCode: String?
        /// The rate-limit policy that refused the request.
        var limitedPolicy: String?
        /// The error tracker already has this request's error (with more detail than its status).
        var errorCaptured = false
    }

    private let state = Mutex(State())

    func update(_ body: (inout State) -> Void) { state.withLock { body(&$0) } }
    var current: State { state.withLock { $0 } }
}
