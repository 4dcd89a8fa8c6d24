import Database
import Hummingbird
import NIOCore

/// The per-request context of every FeedFusion route.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's address (the proxy's, behind a reverse proxy).
    public let remoteAddress: SocketAddress?
    /// Who the request runs as in PostgreSQL, set by `CallerMiddleware` from the bearer JWT.
    public var caller: Caller = .anonymous {
        didSet { trace.update { $0.caller = caller } }
    }
    /// What the request's layers learn about it, for logs, metrics and observations.
    let trace = RequestTrace()
    /// Whether `caller` was already verified (by the rate limiter, which needs it first).
    var callerVerified = false

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
