import Crypto
import Database
import Foundation

/// Opaque refresh tokens: random, stored only as SHA-256 hashes.
///
/// A rotation's successor is derived from its parent with an HMAC under the server's secret, so
/// that a parent presented again within the reuse window can be answered with the very same
/// successor without ever storing a token in the clear.
struct RefreshTokens: Sendable {
    let key: SymmetricKey

    init(secret: String) {
        key = SymmetricKey(data: SHA256.hash(data: Data(("refresh-token-rotation:" + secret).utf8)))
    }

    func generate() -> String {
        base64URL(Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }))
    }

    func successor(of token: String) -> String {
        base64URL(Data(HMAC<SHA256>.authenticationCode(for: Data(token.utf8), using: key)))
    }

    static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).hexEncoded
    }
}

func base64URL(_ data: Data) -> String {
    data.base64EncodedString()
        .replacingOccurrences(of: "+", with: "-")
        .replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}
