import AppConfig
import Auth
import Database
import HTTPTypes
import Hummingbird
import RateLimiting

/// Limits requests per client IP and, for signed-in users, per user as well; `service_role` is exempt
/// (unless it names a verification bucket in `X-FeedFusion-Rate-Limit-Bucket`).
/// Every answer carries the IETF draft headers (`RateLimit-Policy`, `RateLimit`) and the customary
/// `X-RateLimit-*`; a refused request gets `429` with `Retry-After` and the route family's error body.
///
/// It runs before the caller middleware so that requests with a bad token are limited too; it reads
/// the caller from the same verified-token cache.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    /// The policy's name in the `RateLimit` headers.
    let policy: String
    let limiter: any RequestLimiter
    let clientAddress: ClientAddress
    let callers: CallerResolver
    /// The error answered when limited, given the seconds until a retry can succeed.
    let limitedError: @Sendable (Int) -> APIError
    let clock: @Sendable () -> ContinuousClock.Instant
    /// Where refusals are noted, for the dashboard's "who is being limited now".
    var limited: LimitedClients?
    /// `"<policy>"`, and the headers that are the same on every answer, built once.
    let quotedPolicy: String
    let fixedHeaders: HTTPFields

    init(
        policy: String, limiter: any RequestLimiter, clientAddress: ClientAddress, callers: CallerResolver,
        limitedError: @escaping @Sendable (Int) -> APIError, clock: @escaping @Sendable () -> ContinuousClock.Instant,
        limited: LimitedClients? = nil
    ) {
        self.limited = limited
        self.policy = policy
        self.limiter = limiter
        self.clientAddress = clientAddress
        self.callers = callers
        self.limitedError = limitedError
        self.clock = clock
        quotedPolicy = "\"" + policy + "\""
        fixedHeaders = [
            .rateLimitPolicy: quotedPolicy + ";q=\(limiter.rate.limit);w=\(Self.seconds(limiter.rate.period))",
            .xRateLimitLimit: String(limiter.rate.limit),
        ]
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let caller = try? await callers.caller(authorization: request.headers[.authorization], apikey: request.headers[.apikey])
        var context = context
        if let caller {
            // The caller middleware after us need not verify the token again.
            context.caller = caller
            context.callerVerified = true
        }
        // The service role is exempt, except in a verification bucket of its own choosing
        // (`feedfusion verify` proves the limits live without spending any client's budget).
        var key = "ip:" + NetworkRange.rateLimitBucket(of: clientAddress.of(request, peer: context.remoteAddress?.ipAddress))
        if caller?.role == .serviceRole {
            guard let bucket = request.headers[.verificationBucket], !bucket.isEmpty, bucket.utf8.count <= 64 else {
                return try await next(request, context)
            }
            key = "verify:" + bucket
        }

        let now = clock()
        var decision = await limiter.record(key, now: now)
        var decidedBy = key
        if decision.allowed, let user = caller?.userID {
            let perUser = await limiter.record("user:\(user)", now: now)
            if !perUser.allowed || perUser.remaining < decision.remaining { (decision, decidedBy) = (perUser, "user:\(user)") }
        }
        let headers = headers(for: decision)
        guard decision.allowed else {
            let retry = max(1, Self.seconds(decision.retryAfter ?? .seconds(1)))
            context.trace.update { $0.limitedPolicy = policy }
            limited?.refused(decidedBy, policy: policy)
            var error = limitedError(retry)
            error.headers.append(contentsOf: headers)
            error.headers[.retryAfter] = "\(retry)"
            throw error
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch var error as APIError {
            error.headers.append(contentsOf: headers)
            throw error
        }
        response.headers.append(contentsOf: headers)
        return response
    }

    func headers(for decision: RateLimitDecision) -> HTTPFields {
        let reset = String(Self.seconds(decision.resetAfter))
        let remaining = String(decision.remaining)
        var headers = fixedHeaders
        headers.append(HTTPField(name: .rateLimit, value: quotedPolicy + ";r=" + remaining + ";t=" + reset))
        headers.append(HTTPField(name: .xRateLimitRemaining, value: remaining))
        headers.append(HTTPField(name: .xRateLimitReset, value: reset))
        return headers
    }



    /// Whole seconds, rounded up: a client that waits this long is not refused again.
    static func seconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) + (attoseconds > 0 ? 1 : 0)
    }
}

extension HTTPField.Name {
    /// Honoured only with the service key: rate-limit this request in the named throwaway bucket.
    static let verificationBucket = HTTPField.Name("X-FeedFusion-Rate-Limit-Bucket")!
}
