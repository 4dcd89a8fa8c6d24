import Crypto
import Foundation

/// Files the server ships for browsers (the dashboard's, the app's: no CDN, no npm, nothing to
/// build), read once from a resource folder, each with its content type and a strong ETag.
public struct StaticAssets: Sendable {
    public struct Asset: Sendable {
        public let bytes: [UInt8]
        public let contentType: String
        public let etag: String

        public init(_ data: Data, named name: String) {
            bytes = Array(data)
            contentType = StaticAssets.contentType(of: name)
            etag = "\"" + SHA256.hash(data: data).prefix(12).map { String(format: "%02x", $0) }.joined() + "\""
        }
    }

    private var assets: [String: Asset] = [:]
    public let folder: URL?

    /// Every file directly in `folder` by file name, except `skipping`.
    public init(folder: URL?, skipping: Set<String> = []) {
        self.folder = folder
        let names = folder.flatMap { try? FileManager.default.contentsOfDirectory(atPath: $0.path) } ?? []
        for name in names where name.contains(".") && !skipping.contains(name) {
            if let data = read(name) { assets[name] = Asset(data, named: name) }
        }
    }

    /// A file under the folder (`pages/users.html`), as text; nil when missing.
    public func text(_ relativePath: String) -> String? {
        read(relativePath).map { String(decoding: $0, as: UTF8.self) }
    }

    func read(_ relativePath: String) -> Data? {
        folder.flatMap { FileManager.default.contents(atPath: $0.appendingPathComponent(relativePath).path) }
    }

    /// Serves `text` as `name` (a page put together at start-up).
    public mutating func add(_ text: String, named name: String) {
        assets[name] = Asset(Data(text.utf8), named: name)
    }

    public func asset(named name: String) -> Asset? { assets[name] }

    public var names: [String] { assets.keys.sorted() }

    public static func contentType(of name: String) -> String {
        switch name.split(separator: ".").last {
        case "html": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "json", "webmanifest": "application/json; charset=utf-8"
        default: "application/octet-stream"
        }
    }

    /// The pages' Content-Security-Policy: their own scripts and styles only — no inline script, no
    /// eval, no other origin (WebSockets to this origin for realtime) — and they may not be framed.
    public static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}
