import Foundation

/// A browser's session (the dashboard's, the app's): the refresh token of a sign-in, in a cookie
/// scripts cannot read (`HttpOnly`), sent only to its session endpoint (`Path`), never on a request
/// another site started (`SameSite=Strict`), and `Secure` when served over HTTPS. The pages keep the
/// short-lived access token in memory only (never `localStorage`) and ask the session endpoint for
/// a fresh one when it runs out, so a reload does not sign anyone out.
public struct SessionCookie: Sendable {
    public let name: String
    public let path: String
    /// A state-changing request to the session endpoint must carry this header (`1`): a form or link
    /// from another site cannot set it, and a script from another origin may not (no CORS), so no
    /// cross-site request reaches it even if a browser ignored SameSite.
    public let csrfHeader: String

    public static let admin = SessionCookie(name: "feedfusion_admin", path: "/admin/session", csrfHeader: "X-FeedFusion-Dashboard")
    public static let app = SessionCookie(name: "feedfusion_session", path: "/app/session", csrfHeader: "X-FeedFusion-App")

    /// The `Set-Cookie` value holding `refreshToken` for `maxAge` seconds.
    public func set(_ refreshToken: String, maxAge: Int, secure: Bool) -> String {
        "\(name)=\(refreshToken); Path=\(path); Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    /// The `Set-Cookie` value that removes it.
    public func clear(secure: Bool) -> String {
        "\(name)=; Path=\(path); Max-Age=0; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    /// The refresh token in a `Cookie` header, if there is one.
    public func value(in cookieHeader: String?) -> String? {
        guard let cookieHeader else { return nil }
        for pair in cookieHeader.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name else { continue }
            let value = parts[1].trimmingCharacters(in: .whitespaces)
            return value.isEmpty ? nil : value
        }
        return nil
    }
}
