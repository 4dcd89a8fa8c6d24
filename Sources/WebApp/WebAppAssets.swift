import Foundation
import WebAssets

/// The social app's pages, styles and scripts (issue 21), shipped inside the server: one HTML shell
/// for every route of the app (the scripts draw the page for the path), plain ES modules, one
/// stylesheet. No npm, no CDN, nothing to build.
public struct WebAppAssets: Sendable {
    /// The app's routes, each answered with the shell (`index.html`); a path not listed is a 404.
    /// `:name` is a path segment the scripts read.
    public static let routes = ["/", "/sign-in", "/sign-up", "/u/:username", "/forgot-password", "/reset-password", "/confirm",
        "/u/:username/followers", "/u/:username/following", "/e/:id", "/nearby"]

    private let assets: StaticAssets

    public init() {
        assets = StaticAssets(folder: Bundle.module.url(forResource: "Resources", withExtension: nil)?.appendingPathComponent("app"))
    }

    public func asset(named name: String) -> StaticAssets.Asset? { assets.asset(named: name) }

    public var names: [String] { assets.names }
}
