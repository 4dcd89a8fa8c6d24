import Foundation
import JWTKit

/// The project's HS256 key, with JSON written in sorted key order so that signing the same
/// claims always yields the same token (stable API keys), and without escaped slashes.
func makeJWTKeys(secret: String) async -> JWTKeyCollection {
    let encoder = JSONEncoder()
    encoder.dateEncodingStrategy = .secondsSince1970
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return await JWTKeyCollection().add(
        hmac: HMACKey(from: secret), digestAlgorithm: .sha256, serializer: DefaultJWTSerializer(jsonEncoder: encoder))
}
