import Foundation

/// The dashboard's session: the refresh token of an admin's sign-in, in a cookie scripts cannot
/// read (`HttpOnly`), sent only to the session endpoint (`Path`), never on a request another site
/// started (`SameSite=Strict`), and `Secure` when the dashboard is served over HTTPS. The pages keep
/// the short-lived access token in memory only (never `localStorage`) and ask the session endpoint
/// for a fresh one when it runs out, so a reload does not sign the admin out.
public enum AdminSessionCookie {
    public static let name = "feedfusion_admin"
    public static let path = "/admin/session"
    /// A state-changing dashboard request must carry this header: a form or link from another site
    /// cannot set it, and a script from another origin may not (no CORS), so no cross-site request
    /// reaches an action even if a browser ignored SameSite.
    public static let csrfHeader = "X-FeedFusion-Dashboard"

    /// The `Set-Cookie` value holding `refreshToken` for `maxAge` seconds.
    public static func set(_ refreshToken: String, maxAge: Int, secure: Bool) -> String {
        "\(name)=\(refreshToken); Path=\(path); Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    /// The `Set-Cookie` value that removes it.
    public static func clear(secure: Bool) -> String {
        "\(name)=; Path=\(path); Max-Age=0; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    /// The refresh token in a `Cookie` header, if there is one.
    public static func value(in cookieHeader: String?) -> String? {
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
