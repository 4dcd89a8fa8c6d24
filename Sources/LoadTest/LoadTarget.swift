import Foundation

/// The server a run drives and what it needs to talk to it.
public struct LoadTarget: Sendable {
    public var baseURL: String
    /// Every request carries it as `apikey` (signed-in requests add the user's bearer token).
    public var anonKey: String
    /// Signs the virtual users in without spending the per-address auth limit (the service role is exempt).
    public var serviceKey: String?
    /// Read `/metrics` during the run (database connections); without it `db_connections` has no data.
    public var metricsToken: String?

    public init(baseURL: String, anonKey: String, serviceKey: String? = nil, metricsToken: String? = nil) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.anonKey = anonKey
        self.serviceKey = serviceKey
        self.metricsToken = metricsToken
    }

    /// Whether the URL points at this machine: a load test never goes elsewhere unless told to.
    public var isLoopback: Bool {
        guard let host = URL(string: baseURL)?.host?.lowercased() else { return false }
        return host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}

/// A seeded user the virtual users sign in as (from the file `feedfusion seed` writes).
public struct LoadUser: Sendable, Decodable {
    public let id: String
    public let email: String
    /// How many follow this user (files written by older seeds do not say: then reads are uniform).
    public var followers: Int?

    public init(id: String, email: String, followers: Int? = nil) {
        self.id = id
        self.email = email
        self.followers = followers
    }

    /// `{ "password": …, "users": [{ "id", "email", … }] }`.
    public static func load(from file: URL) throws -> (password: String, users: [LoadUser]) {
        struct UsersFile: Decodable {
            let password: String
            let users: [LoadUser]
        }
        let contents = try JSONDecoder().decode(UsersFile.self, from: Data(contentsOf: file))
        return (contents.password, contents.users)
    }
}
