import Crypto
import Foundation

/// The dashboard's pages, styles and scripts, shipped inside the server (no CDN, no npm, nothing
/// to build): read once from the module's resources, each with its content type and a strong ETag.
public struct DashboardAssets: Sendable {
    public struct Asset: Sendable {
        public let bytes: [UInt8]
        public let contentType: String
        public let etag: String
        /// Pages are documents: always revalidated. Styles and scripts too (their ETag makes that a 304).
        public var isPage: Bool { contentType.hasPrefix("text/html") }
    }

    /// A signed-in page: its path under `/admin`, its title (the navigation's name for it too), and
    /// its script. Its body is `Resources/admin/pages/<name>.html`, framed by `shell.html`. The
    /// navigation lists exactly these: a module appears once it is built.
    public struct Page: Sendable {
        public let path: String
        public let name: String
        public let title: String
    }

    public static let pages = [
        Page(path: "", name: "overview", title: "Overview"),
        Page(path: "users", name: "users", title: "Users"),
        Page(path: "moderation", name: "moderation", title: "Moderation"),
        Page(path: "telemetry", name: "telemetry", title: "Telemetry"),
        Page(path: "errors", name: "errors", title: "Errors"),
        Page(path: "readiness", name: "readiness", title: "Readiness"),
        Page(path: "limits", name: "limits", title: "Limits and cache"),
    ]

    private let assets: [String: Asset]

    /// Every file under `Resources/admin` by file name, and each page as `<name>.html`.
    public init() {
        var assets: [String: Asset] = [:]
        let folder = Bundle.module.url(forResource: "Resources", withExtension: nil)?.appendingPathComponent("admin")
        func read(_ name: String) -> Data? { folder.flatMap { FileManager.default.contents(atPath: $0.appendingPathComponent(name).path) } }
        let names = folder.flatMap { try? FileManager.default.contentsOfDirectory(atPath: $0.path) } ?? []
        for name in names where name.contains(".") && name != "shell.html" {
            if let data = read(name) { assets[name] = Self.asset(data, named: name) }
        }
        let shell = read("shell.html").map { String(decoding: $0, as: UTF8.self) } ?? ""
        for page in Self.pages {
            let nav = Self.pages.map { other in
                #"        <li><a href="/admin/\#(other.path)"\#(other.name == page.name ? #" aria-current="page""# : "")>\#(other.title)</a></li>"#
            }.joined(separator: "\n")
            let body = read("pages/\(page.name).html").map { String(decoding: $0, as: UTF8.self) } ?? ""
            let html = shell
                .replacingOccurrences(of: "{{title}}", with: page.title).replacingOccurrences(of: "{{script}}", with: "\(page.name).js")
                .replacingOccurrences(of: "{{nav}}", with: nav).replacingOccurrences(of: "{{body}}", with: body.trimmingCharacters(in: .newlines))
            assets["\(page.name).html"] = Self.asset(Data(html.utf8), named: "\(page.name).html")
        }
        self.assets = assets
    }

    static func asset(_ data: Data, named name: String) -> Asset {
        let digest = SHA256.hash(data: data).prefix(12).map { String(format: "%02x", $0) }.joined()
        return Asset(bytes: Array(data), contentType: contentType(of: name), etag: "\"\(digest)\"")
    }

    public func asset(named name: String) -> Asset? { assets[name] }

    public var names: [String] { assets.keys.sorted() }

    static func contentType(of name: String) -> String {
        switch name.split(separator: ".").last {
        case "html": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        default: "application/octet-stream"
        }
    }

    /// The dashboard's Content-Security-Policy: its own scripts and styles only — no inline script,
    /// no eval, no other origin — and it may not be framed.
    public static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}
