import Foundation

/// Where an error group is on Sentry, from the DSN the server reports to: the project's issues
/// searched by the `fingerprint` tag the server sets on each event. The DSN's key is never part of
/// it. Sentry's own ingest hosts (`o123.ingest.sentry.io`, `….ingest.us.sentry.io`) have their web
/// interface at `sentry.io`; a self-hosted Sentry serves both on one host.
public enum SentryLink {
    /// The issues search of the DSN's project, without a query; nil for a DSN that is not a URL with a project.
    public static func issues(dsn: String?) -> String? {
        guard let dsn, let url = URL(string: dsn), let scheme = url.scheme, let host = url.host else { return nil }
        let project = url.path.split(separator: "/").last.map(String.init) ?? ""
        guard !project.isEmpty, project.allSatisfy(\.isNumber) else { return nil }
        var web = host
        if let ingest = host.range(of: ".ingest.") {
            web = String(host[ingest.upperBound...])  // o123.ingest.us.sentry.io → us.sentry.io
            if web.hasPrefix("us.") || web.hasPrefix("de.") { web = String(web.dropFirst(3)) }
        }
        let port = url.port.map { ":\($0)" } ?? ""
        return "\(scheme)://\(web)\(port)/issues/?project=\(project)"
    }
}
