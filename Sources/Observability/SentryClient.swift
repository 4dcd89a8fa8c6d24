import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Sends error events to Sentry (or anything that speaks its envelope protocol) over HTTP.
///
/// The DSN `https://<public key>@<host>[:port][/<path>]/<project id>` names the endpoint
/// `…/api/<project id>/envelope/` and the key for `X-Sentry-Auth`. A send is retried a bounded
/// number of times with backoff, then given up (and logged): error reporting must never pile up.
public struct SentryClient: Sendable {
    public struct DSN: Sendable, Equatable {
        public let envelopeURL: String
        public let publicKey: String
        public let raw: String

        public init?(_ raw: String) {
            guard let url = URL(string: raw), let scheme = url.scheme, ["http", "https"].contains(scheme), let host = url.host,
                let key = url.user, !key.isEmpty
            else { return nil }
            let parts = url.path.split(separator: "/")
            guard let project = parts.last, !project.isEmpty else { return nil }
            let prefix = parts.dropLast().map { "/" + $0 }.joined()
            let port = url.port.map { ":\($0)" } ?? ""
            envelopeURL = "\(scheme)://\(host)\(port)\(prefix)/api/\(project)/envelope/"
            publicKey = key
            self.raw = raw
        }
    }

    public let dsn: DSN
    public var environment = "production"
    public var release = "feedfusion@0.1.0"
    public var attempts = 3
    public var firstBackoff: Duration = .milliseconds(500)
    private let httpClient: HTTPClient
    private let logger: Logger

    public init(dsn: DSN, httpClient: HTTPClient = .shared, logger: Logger) {
        self.dsn = dsn
        self.httpClient = httpClient
        self.logger = logger
    }

    /// Sends `event`; answers whether Sentry accepted it.
    @discardableResult
    public func send(_ event: ErrorEvent) async -> Bool {
        var request = HTTPClientRequest(url: dsn.envelopeURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-sentry-envelope")
        request.headers.add(
            name: "X-Sentry-Auth",
            value: "Sentry sentry_version=7, sentry_client=feedfusion/0.1.0, sentry_key=\(dsn.publicKey)")
        request.body = .bytes(ByteBuffer(bytes: envelope(for: event)))
        var backoff = firstBackoff
        for attempt in 1...max(1, attempts) {
            do {
                let response = try await httpClient.execute(request, timeout: .seconds(5))
                _ = try? await response.body.collect(upTo: 64 * 1024)
                if (200..<300).contains(response.status.code) { return true }
                // 4xx other than rate limiting will not get better by retrying.
                if response.status.code < 500, response.status != .tooManyRequests {
                    logger.warning("Sentry refused an error event", metadata: ["status": "\(response.status.code)"])
                    return false
                }
            } catch {
                if attempt == attempts {
                    logger.warning("Sentry unreachable; error event kept only in error_events", metadata: ["error": "\(type(of: error))"])
                }
            }
            if attempt < attempts {
                try? await Task.sleep(for: backoff)
                backoff *= 2
            }
        }
        return false
    }

    /// The envelope: a header line, an item header line, the event as JSON — newline-separated.
    public func envelope(for event: ErrorEvent) -> [UInt8] {
        let eventID = event.id.uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let sentAt = Date().formatted(.iso8601)
        var tags: [String: String] = ["fingerprint": event.fingerprint]
        if let route = event.route { tags["route"] = route }
        if let method = event.method { tags["method"] = method }
        if let role = event.role { tags["role"] = role }
        if let status = event.status { tags["status"] = String(status) }
        var payload: [String: Any] = [
            "event_id": eventID,
            "timestamp": event.createdAt.timeIntervalSince1970,
            "platform": "other",
            "level": "error",
            "logger": "feedfusion",
            "environment": environment,
            "release": release,
            "message": ["formatted": event.message],
            "exception": ["values": [["type": event.errorType, "value": event.message]]],
            "fingerprint": [event.fingerprint],
            "tags": tags,
            "extra": event.context,
        ]
        if let requestID = event.requestID { payload["contexts"] = ["request": ["request_id": requestID]] }
        if let user = event.userID { payload["user"] = ["id": user.uuidString.lowercased()] }
        let body = (try? JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])) ?? Data("{}".utf8)
        let header = #"{"event_id":"\#(eventID)","sent_at":"\#(sentAt)","dsn":"\#(dsn.raw)"}"#
        let item = #"{"type":"event","length":\#(body.count),"content_type":"application/json"}"#
        return Array(header.utf8) + [0x0A] + Array(item.utf8) + [0x0A] + Array(body) + [0x0A]
    }
}
