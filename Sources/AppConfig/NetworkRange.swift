#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address range in CIDR notation (`10.0.0.0/8`, `::1`, `192.168.1.7`), used to
/// say which peers are trusted proxies whose `X-Forwarded-For` may name the client.
public struct NetworkRange: Sendable, Equatable, CustomStringConvertible {
    let bytes: [UInt8]
    let prefixLength: Int
    public let description: String

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = Self.addressBytes(String(parts[0])) else { return nil }
        let bits = address.count * 8
        var prefix = bits
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...bits).contains(value) else { return nil }
            prefix = value
        }
        bytes = address
        prefixLength = prefix
        description = text
    }

    /// Whether `address` (textual, as a socket reports it) lies in this range.
    public func contains(_ address: String) -> Bool {
        guard var candidate = Self.addressBytes(address) else { return false }
        // An IPv4 peer on a dual-stack socket shows up as ::ffff:a.b.c.d.
        if bytes.count == 4, candidate.count == 16, candidate.prefix(12) == Self.mappedPrefix[...] {
            candidate = Array(candidate.suffix(4))
        }
        guard candidate.count == bytes.count else { return false }
        var remaining = prefixLength
        for (mine, theirs) in zip(bytes, candidate) where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
            if mine & mask != theirs & mask { return false }
            remaining -= 8
        }
        return true
    }

    private static let mappedPrefix: [UInt8] = Array(repeating: 0, count: 10) + [0xFF, 0xFF]

    /// Who a rate limit counts a client address as: an IPv4 address itself (also when an IPv6 socket
    /// shows it as `::ffff:a.b.c.d`), an IPv6 address by its /64 — one subscriber's network, since
    /// a host picks any of 2^64 addresses in it at will. Anything else is counted as written.
    public static func rateLimitBucket(of address: String) -> String {
        guard let bytes = addressBytes(address) else { return address }
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        if bytes.prefix(12) == mappedPrefix[...] { return bytes.suffix(4).map(String.init).joined(separator: ".") }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }

    /// The address's bytes (4 or 16), or nil when it is not an IP address.
    static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}
