import HTTPTypes
import Hummingbird
import RateLimiting

/// Limits requests per client with the standard `RateLimit-*` headers on every answer and
/// `429` with `Retry-After` when the limit is reached.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let limiter: RateLimiter
    /// Whether to key on the first `X-Forwarded-For` address (only behind a trusted proxy).
    let trustForwardedFor: Bool
    /// The error answered when limited (the route family's own code).
    let limitedError: APIError

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let decision = limiter.record(clientKey(request, context))
        var headers: HTTPFields = [
            .rateLimitLimit: "\(decision.limit)",
            .rateLimitRemaining: "\(decision.remaining)",
            .rateLimitReset: "\(Self.seconds(decision.resetAfter))",
            .rateLimitPolicy: "\(limiter.rate.limit);w=\(Self.seconds(limiter.rate.period))",
        ]
        guard decision.allowed else {
            headers[.retryAfter] = "\(max(1, Self.seconds(decision.retryAfter ?? .seconds(1))))"
            var error = limitedError
            error.headers.append(contentsOf: headers)
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

    func clientKey(_ request: Request, _ context: Context) -> String {
        if trustForwardedFor, let forwarded = request.headers[.forwardedFor]?.split(separator: ",").first {
            return forwarded.trimmingCharacters(in: .whitespaces)
        }
        return context.remoteAddress?.ipAddress ?? "unknown"
    }

    static func seconds(_ duration: Duration) -> Int {
        Int((Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18).rounded(.up))
    }
}
