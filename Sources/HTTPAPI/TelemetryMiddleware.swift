import Database
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Observability

/// The outermost layer: gives every request an id (`X-Request-Id`, taken from a trusted proxy's
/// header when valid), and when the answer is ready records it — the request metrics, one log line,
/// an `rpc_observations` row for data-API requests, and an error event for an unexpected 5xx.
/// Everything it records is queued or counted in memory; nothing here waits for the database.
struct TelemetryMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let telemetry: AppTelemetry
    let clientAddress: ClientAddress

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let id = requestID(request, context)
        context.trace.update { $0.requestID = id }
        var response = try await next(request, context)
        response.headers[.requestID] = id
        record(request, context, status: Int(response.status.code), duration: ContinuousClock.now - started, id: id)
        return response
    }

    /// The proxy's id when the peer is a trusted proxy and the id is sane; a new one otherwise.
    func requestID(_ request: Request, _ context: Context) -> String {
        if let given = request.headers[.requestID], given.utf8.count <= 128, !given.isEmpty,
            given.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
            let peer = context.remoteAddress?.ipAddress, clientAddress.isTrusted(peer)
        {
            return given
        }
        return UInt64.random(in: .min ... .max).hexID
    }

    func record(_ request: Request, _ context: Context, status: Int, duration: Duration, id: String) {
        let trace = context.trace.current
        let route = context.endpointPath ?? "unmatched"
        let method = request.method.rawValue
        telemetry.metrics.request(route: route, method: method, status: status, duration: duration, databaseTime: trace.databaseTime)
        if let cacheResult = trace.cacheResult { telemetry.metrics.cacheResult(cacheResult) }
        if status == 429, let policy = trace.limitedPolicy { telemetry.metrics.rateLimited(policy: policy) }
        if let function = trace.function, let observations = telemetry.observations,
            telemetry.settings.observationSampleRate >= 1 || Double.random(in: 0..<1) < telemetry.settings.observationSampleRate
        {
            observations.offer(RPCObservation(
                function: function, method: method, role: trace.caller.role.rawValue, userID: trace.caller.userID, status: status,
                durationMilliseconds: duration.milliseconds, databaseMilliseconds: trace.databaseTime?.milliseconds,
                errorCode: trace.errorCode, requestID: id, cacheResult: trace.cacheResult ?? "bypass"))
        }
        if status >= 500, !trace.errorCaptured, route != "/ready" {
            telemetry.errors.capture(ErrorEvent(
                errorType: "HTTP \(status)", message: trace.errorCode.map { "answered \(status) \($0)" } ?? "answered \(status)",
                requestID: id, route: route, method: method, role: trace.caller.role.rawValue, userID: trace.caller.userID,
                status: status, context: trace.function.map { ["function": $0] } ?? [:]))
        }
        if telemetry.settings.logRequests, telemetry.requestLogger.logLevel <= .info {
            let milliseconds = RestController.milliseconds(duration)
            if telemetry.settings.logFormat == .logfmt {
                // The line is written once per request: formatted here in one string rather than
                // through a metadata dictionary the handler would merge and sort (a fifth of the
                // throughput of a cached feed went there).
                var line = "request request_id=\(id) method=\(method) route=\(route) status=\(status) duration_ms=\(milliseconds) role=\(trace.caller.role.rawValue)"
                if let cacheResult = trace.cacheResult { line += " cache=\(cacheResult)" }
                if let code = trace.errorCode { line += " error_code=\(code)" }
                telemetry.requestLogger.info("\(line)")
            } else {
                var metadata: Logger.Metadata = [
                    "request_id": "\(id)", "method": "\(method)", "route": "\(route)", "status": "\(status)",
                    "duration_ms": "\(milliseconds)", "role": "\(trace.caller.role.rawValue)",
                ]
                if let cacheResult = trace.cacheResult { metadata["cache"] = "\(cacheResult)" }
                if let code = trace.errorCode { metadata["error_code"] = "\(code)" }
                telemetry.requestLogger.info("request", metadata: metadata)
            }
        }
    }
}

extension Duration {
    var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}

extension UInt64 {
    /// 16 lower-case hex digits.
    var hexID: String {
        let digits = String(self, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
}
