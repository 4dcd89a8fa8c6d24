import Dashboard
import WebAssets
import Foundation
import Testing

/// The dashboard's shipped pages and the pure pieces around them (the browser tests drive the rest).
@Suite("Dashboard assets")
struct DashboardAssetsTests {
    @Test("every built page is framed, names itself current in the navigation, and lists every module")
    func pages() throws {
        let assets = DashboardAssets()
        for page in DashboardAssets.pages {
            let html = try #require(assets.asset(named: "\(page.name).html")).bytes
            let text = String(decoding: html, as: UTF8.self)
            #expect(text.contains("<title>\(page.title) · FeedFusion admin</title>"))
            #expect(text.contains(#"src="/admin/assets/\#(page.name).js""#))
            #expect(text.contains(#"<a href="/admin/\#(page.path)" aria-current="page">\#(page.title)</a>"#))
            for other in DashboardAssets.pages { #expect(text.contains(">\(other.title)</a>")) }
            #expect(!text.contains("{{"), "a placeholder left in \(page.name)")
            #expect(assets.asset(named: "\(page.name).js") != nil, "\(page.name).js is missing")
        }
        #expect(assets.asset(named: "shell.html") == nil)
        #expect(assets.asset(named: "admin.css")?.contentType == "text/css; charset=utf-8")
    }

    @Test("the session cookie: HttpOnly, SameSite=Strict, scoped to the session path; Secure over HTTPS")
    func cookie() {
        let set = SessionCookie.admin.set("token", maxAge: 60, secure: false)
        #expect(set == "feedfusion_admin=token; Path=/admin/session; Max-Age=60; HttpOnly; SameSite=Strict")
        #expect(SessionCookie.admin.set("token", maxAge: 60, secure: true).hasSuffix("; Secure"))
        #expect(SessionCookie.admin.value(in: "a=1; feedfusion_admin=abc; b=2") == "abc")
        #expect(SessionCookie.admin.value(in: "feedfusion_admin=") == nil)
        #expect(SessionCookie.admin.value(in: "other=feedfusion_admin") == nil)
    }

    @Test("Sentry links: the project's issues on the web host, never the key")
    func sentry() {
        #expect(SentryLink.issues(dsn: "https://abc123@o42.ingest.sentry.io/4506") == "https://sentry.io/issues/?project=4506")
        #expect(SentryLink.issues(dsn: "https://abc123@o42.ingest.us.sentry.io/77") == "https://sentry.io/issues/?project=77")
        #expect(SentryLink.issues(dsn: "http://key@sentry.internal:9000/3") == "http://sentry.internal:9000/issues/?project=3")
        #expect(SentryLink.issues(dsn: "not a dsn") == nil)
        #expect(SentryLink.issues(dsn: "https://key@host/") == nil)
        #expect(SentryLink.issues(dsn: nil) == nil)
    }
}
