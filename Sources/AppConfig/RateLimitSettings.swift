import Foundation

/// Request rate limits of the HTTP API, per client IP and, for signed-in users, per user.
public struct RateLimitSettings: Sendable {
    public var enabled: Bool = true
    /// Requests per minute on `/rest/v1/*` (tables and RPC).
    public var restPerMinute: Int = 100
    /// Most of those allowed back to back (default: the whole minute's allowance).
    public var restBurst: Int?
    /// Requests per minute on `/auth/v1/*`.
    public var authPerMinute: Int = 20
    public var authBurst: Int?
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers are believed; none by default, so a
    /// client cannot pick its own rate-limit key.
    public var trustedProxies: [NetworkRange] = []

    public init() {}
}

extension RateLimitSettings {
    init(reader: SettingsReader) throws {
        self.init()
        enabled = try reader.boolean("RATE_LIMIT_ENABLED") ?? enabled
        restPerMinute = try reader.integer("RATE_LIMIT_REST_PER_MIN", in: 1...10_000_000) ?? restPerMinute
        restBurst = try reader.integer("RATE_LIMIT_REST_BURST", in: 1...10_000_000)
        // AUTH_RATE_LIMIT_PER_MINUTE is the name this setting had before the limits were unified.
        authPerMinute = try reader.integer("RATE_LIMIT_AUTH_PER_MIN", in: 1...10_000_000)
            ?? reader.integer("AUTH_RATE_LIMIT_PER_MINUTE", in: 1...10_000_000) ?? authPerMinute
        authBurst = try reader.integer("RATE_LIMIT_AUTH_BURST", in: 1...10_000_000)
        if let raw = try reader.string("TRUSTED_PROXIES") {
            trustedProxies = try raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                .map { text in
                    guard let range = NetworkRange(text) else {
                        throw SettingsError(setting: "TRUSTED_PROXIES", problem: "'\(text)' is not an IP address or CIDR range")
                    }
                    return range
                }
        }
    }
}
