import CompressNIO
import Foundation
import NIOCore
import Testing
import WebApp
import WebAssets

/// The app's shipped files (the browser tests drive the pages themselves).
@Suite("Web app assets")
struct WebAppAssetsTests {
    @Test("the shell loads only the app's own files, and every file it names is shipped")
    func shell() throws {
        let assets = WebAppAssets()
        let html = String(decoding: try #require(assets.asset(named: "index.html")).bytes, as: UTF8.self)
        let referenced = html.matches(of: /(?:src|href)="\/app\/assets\/([a-z.-]+)"/).map { String($0.1) }
        #expect(referenced.contains("app.js") && referenced.contains("app.css"))
        for name in referenced { #expect(assets.asset(named: name) != nil, "\(name) is named by the shell but not shipped") }
        // No inline script or style: the CSP allows neither.
        #expect(!html.contains("<script>") && !html.contains("style="))
        // Every module a script imports is shipped too.
        for name in assets.names where name.hasSuffix(".js") {
            let script = String(decoding: try #require(assets.asset(named: name)).bytes, as: UTF8.self)
            for imported in script.matches(of: /from "\/app\/assets\/([a-z.-]+)"/) {
                #expect(assets.asset(named: String(imported.1)) != nil, "\(name) imports \(imported.1), which is not shipped")
            }
        }
    }

    @Test("the whole app (HTML, CSS, JavaScript) weighs under 100 kB compressed, as the browser gets it")
    func weight() throws {
        let assets = WebAppAssets()
        var compressed = 0
        for name in assets.names {
            var buffer = ByteBuffer(bytes: try #require(assets.asset(named: name)).bytes)
            compressed += try buffer.compress(with: .gzip()).readableBytes
        }
        #expect(compressed > 1_000)
        #expect(compressed < 100_000, "the app weighs \(compressed) bytes gzipped")
    }
}
