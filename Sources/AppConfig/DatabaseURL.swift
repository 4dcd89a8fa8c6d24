import Foundation

/// A `postgres://user:password@host:port/database?sslmode=…` URL, split into its parts.
public struct DatabaseURL: Sendable, Equatable {
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(host: String, port: Int, username: String, password: String?, database: String, tls: TLSMode = .disable) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
    }

    public init(parsing raw: String) throws {
        guard let components = URLComponents(string: raw),
            let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme)
        else {
            throw ParseError(description: "expected postgres://user:password@host:port/database")
        }
        guard let host = components.host, !host.isEmpty else {
            throw ParseError(description: "the URL has no host")
        }
        guard let user = components.user, !user.isEmpty else {
            throw ParseError(description: "the URL has no user name")
        }
        let port = components.port ?? 5432
        guard (1...65_535).contains(port) else {
            throw ParseError(description: "port \(port) is out of range")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        let sslmode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer"
        let tls: TLSMode
        switch sslmode {
        case "disable", "allow": tls = .disable
        case "prefer": tls = .prefer
        case "require", "verify-ca", "verify-full": tls = .require
        default: throw ParseError(description: "unknown sslmode '\(sslmode)'")
        }
        self.init(
            host: host, port: port, username: user.removingPercentEncoding ?? user,
            password: components.password.map { $0.removingPercentEncoding ?? $0 },
            database: database.isEmpty ? user : (database.removingPercentEncoding ?? database), tls: tls)
    }

    /// The same server, another database (test databases, template clones).
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }

    /// The URL as text, with the password left out: safe for logs and messages.
    public var redacted: String {
        "postgres://\(username)@\(host):\(port)/\(database)"
    }
}
