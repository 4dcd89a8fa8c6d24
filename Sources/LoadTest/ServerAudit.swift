import AsyncHTTPClient
import Database
import DatabaseReadiness
import Foundation
import NIOCore
import NIOHTTP1

/// The live half of `feedfusion verify --url`: the rate limits fire where configured, with their
/// headers; /metrics is protected and its telemetry queue drops nothing; transport hints for a
/// server that is not on this machine.
public struct ServerAudit: Sendable {
    public struct Limit: Sendable {
        public var enabled: Bool
        public var perMinute: Int
        public var burst: Int?
        public init(enabled: Bool, perMinute: Int, burst: Int?) {
            self.enabled = enabled
            self.perMinute = perMinute
            self.burst = burst
        }
        /// Requests allowed back to back before the first refusal.
        var allowed: Int { min(burst ?? perMinute, perMinute) }
    }

    let target: LoadTarget
    let rest: Limit
    let auth: Limit
    let httpClient: HTTPClient

    public init(target: LoadTarget, rest: Limit, auth: Limit, httpClient: HTTPClient = .shared) {
        self.target = target
        self.rest = rest
        self.auth = auth
        self.httpClient = httpClient
    }

    public func run() async -> [ReadinessCheck] {
        var checks = [
            await rateLimit(
                "rate_limit_rest", rest, path: "/rest/v1/rpc/feed_fusion_home", body: "{}", code: ("code", "PT429")),
            await rateLimit(
                "rate_limit_auth", auth, path: "/auth/v1/token?grant_type=refresh_token", body: #"{"refresh_token":"verify"}"#,
                code: ("error_code", "over_request_rate_limit")),
            await metrics(),
        ]
        if !target.isLoopback { checks.append(await transport()) }
        return checks
    }

    func send(_ path: String, method: HTTPMethod = .POST, body: String? = nil, headers: [(String, String)]) async -> (Int, HTTPHeaders, Data)? {
        var request = HTTPClientRequest(url: target.baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        guard let response = try? await httpClient.execute(request, timeout: .seconds(10)) else { return nil }
        let bytes = (try? await response.body.collect(upTo: 16 << 20)) ?? ByteBuffer()
        return (Int(response.status.code), response.headers, Data(bytes.readableBytesView))
    }

    /// Spends a throwaway bucket (named in a header only the service key may use): the first
    /// refusal must come right after the configured allowance, as a 429 with every header.
    func rateLimit(_ name: String, _ limit: Limit, path: String, body: String, code: (key: String, value: String)) async -> ReadinessCheck {
        guard limit.enabled else {
            return ReadinessCheck(name: name, status: .fail, summary: "rate limiting is off (RATE_LIMIT_ENABLED=false)")
        }
        guard let serviceKey = target.serviceKey else {
            return ReadinessCheck(name: name, status: .warn, summary: "not checked: the service key is needed for a verification bucket")
        }
        let headers = [
            ("apikey", serviceKey), ("Authorization", "Bearer \(serviceKey)"),
            ("X-FeedFusion-Rate-Limit-Bucket", "verify-\(UUID().uuidString.prefix(8))"),
        ]
        for attempt in 1...(limit.allowed + 1) {
            guard let (status, responseHeaders, data) = await send(path, body: body, headers: headers) else {
                return ReadinessCheck(name: name, status: .fail, summary: "\(target.baseURL)\(path) did not answer")
            }
            guard status == 429 else { continue }
            var problems: [String] = []
            if attempt != limit.allowed + 1 { problems.append("refused at request \(attempt), expected \(limit.allowed + 1)") }
            for header in ["Retry-After", "RateLimit", "RateLimit-Policy", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]
            where responseHeaders.first(name: header) == nil {
                problems.append("429 without \(header)")
            }
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            if object?[code.key] as? String != code.value { problems.append("429 body without \(code.key) \(code.value)") }
            return problems.isEmpty
                ? ReadinessCheck(
                    name: name, status: .pass,
                    summary: "\(path.split(separator: "?")[0]): 429 after \(limit.allowed) requests, with Retry-After and RateLimit headers")
                : ReadinessCheck(name: name, status: .fail, summary: "\(path.split(separator: "?")[0]) limits wrongly", evidence: problems)
        }
        return ReadinessCheck(
            name: name, status: .fail, summary: "no 429 after \(limit.allowed + 1) requests to \(path.split(separator: "?")[0])",
            evidence: ["expected \(limit.perMinute) per minute (burst \(limit.allowed))"])
    }

    /// /metrics refuses strangers, answers the token, and the telemetry queues drop nothing.
    func metrics() async -> ReadinessCheck {
        guard let token = target.metricsToken else {
            return ReadinessCheck(name: "metrics", status: .warn, summary: "METRICS_TOKEN is not set: /metrics is not served on the API port")
        }
        let stranger = await send("/metrics", method: .GET, headers: [])
        guard let (status, _, data) = await send("/metrics", method: .GET, headers: [("Authorization", "Bearer \(token)")]), status == 200 else {
            return ReadinessCheck(name: "metrics", status: .fail, summary: "/metrics does not answer its token")
        }
        var evidence: [String] = []
        if let strangerStatus = stranger?.0, strangerStatus < 400 { evidence.append("/metrics answered \(strangerStatus) without a token") }
        let text = String(decoding: data, as: UTF8.self)
        let dropped = text.split(separator: "\n").filter { $0.hasPrefix("feedfusion_telemetry_dropped_total") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        if !evidence.isEmpty { return ReadinessCheck(name: "metrics", status: .fail, summary: "/metrics is open", evidence: evidence) }
        return dropped > 0
            ? ReadinessCheck(
                name: "metrics", status: .warn, summary: "telemetry queues dropped \(Int(dropped)) rows (database slower than the traffic)")
            : ReadinessCheck(name: "metrics", status: .pass, summary: "/metrics needs its token; the telemetry queues dropped nothing")
    }

    /// A server reached over the network should be HTTPS with HSTS (usually set by the proxy in front).
    func transport() async -> ReadinessCheck {
        var evidence: [String] = []
        if !target.baseURL.lowercased().hasPrefix("https://") { evidence.append("\(target.baseURL) is not HTTPS") }
        if let (_, headers, _) = await send("/health", method: .GET, headers: []), headers.first(name: "Strict-Transport-Security") == nil {
            evidence.append("no Strict-Transport-Security header")
        }
        return evidence.isEmpty
            ? ReadinessCheck(name: "transport_security", status: .pass, summary: "HTTPS with HSTS")
            : ReadinessCheck(name: "transport_security", status: .warn, summary: "transport hints for a public server", evidence: evidence)
    }
}
