import Foundation
import WebAssets

/// The dashboard's pages, styles and scripts, shipped inside the server (no CDN, no npm, nothing
/// to build): read once from the module's resources, each with its content type and a strong ETag.
public struct DashboardAssets: Sendable {
    public typealias Asset = StaticAssets.Asset

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

    private let assets: StaticAssets

    /// Every file under `Resources/admin` by file name, and each page as `<name>.html`.
    public init() {
        var assets = StaticAssets(
            folder: Bundle.module.url(forResource: "Resources", withExtension: nil)?.appendingPathComponent("admin"),
            skipping: ["shell.html"])
        let shell = assets.text("shell.html") ?? ""
        for page in Self.pages {
            let nav = Self.pages.map { other in
                #"        <li><a href="/admin/\#(other.path)"\#(other.name == page.name ? #" aria-current="page""# : "")>\#(other.title)</a></li>"#
            }.joined(separator: "\n")
            let body = assets.text("pages/\(page.name).html") ?? ""
            let html = shell
                .replacingOccurrences(of: "{{title}}", with: page.title).replacingOccurrences(of: "{{script}}", with: "\(page.name).js")
                .replacingOccurrences(of: "{{nav}}", with: nav).replacingOccurrences(of: "{{body}}", with: body.trimmingCharacters(in: .newlines))
            assets.add(html, named: "\(page.name).html")
        }
        self.assets = assets
    }

    public func asset(named name: String) -> Asset? { assets.asset(named: name) }

    public var names: [String] { assets.names }
}
