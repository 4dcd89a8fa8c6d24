import Foundation
import AppConfig
import Database
import Hummingbird

/// The address a request comes from, for rate limits and logs: the socket peer, unless the peer is
/// one of the configured trusted proxies — then the nearest address in `X-Forwarded-For` (or
/// `Forwarded: for=`) that is not itself a trusted proxy. A client that sends the header straight to
/// us is not a trusted proxy, so it cannot choose its own key.
struct ClientAddress: Sendable {
    let trustedProxies: [NetworkRange]

    func of(_ request: Request, peer: String?) -> String {
        guard let peer else { return "unknown" }
        guard isTrusted(peer) else { return peer }
        let chain = Self.forwardedChain(request.headers)
        // Walk from the proxy nearest to us towards the client; the first untrusted hop is the client.
        for hop in chain.reversed() where !isTrusted(hop) {
            return hop
        }
        return chain.first ?? peer
    }

    func isTrusted(_ address: String) -> Bool {
        trustedProxies.contains { $0.contains(address) }
    }

    /// Addresses from `X-Forwarded-For`, or from `Forwarded` when that is absent, client first.
    static func forwardedChain(_ headers: HTTPFields) -> [String] {
        let forwardedFor = headers[values: .forwardedFor].flatMap { $0.split(separator: ",") }
            .map(\.trimmingSpaces).filter { !$0.isEmpty }
        if !forwardedFor.isEmpty { return forwardedFor }
        return headers[values: .forwarded].flatMap { $0.split(separator: ",") }.compactMap { element in
            element.split(separator: ";").lazy
                .map(\.trimmingSpaces)
                .first { $0.lowercased().hasPrefix("for=") }
                .map { nodeAddress(String($0.dropFirst(4))) }
        }
    }

    /// `"[2001:db8::1]:4711"` → `2001:db8::1`, `192.0.2.60:80` → `192.0.2.60`.
    static func nodeAddress(_ node: String) -> String {
        var text = node.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            return String(text[text.index(after: text.startIndex)..<close])
        }
        if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            text = String(text[..<colon])
        }
        return text
    }
}
