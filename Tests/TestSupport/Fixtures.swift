import Database
import Foundation
import Logging
import PostgresNIO

/// Rows the tests need, written as the database owner (the way the auth service will write them).
public enum Fixtures {
    /// Creates a user and their profile; returns the user id.
    @discardableResult
    public static func createUser(
        _ client: PostgresClient, username: String, isPrivate: Bool = false, admin: Bool = false
    ) async throws -> UUID {
        let id = UUID()
        let appMetadata = admin ? #"{"provider":"email","role":"admin"}"# : #"{"provider":"email"}"#
        let userMetadata = #"{"username":"\#(username)"}"#
        // The profile comes from the sign-up trigger, as for every real user.
        try await client.query(
            """
            INSERT INTO auth.users (id, email, raw_app_meta_data, raw_user_meta_data)
            VALUES (\(id), \(username + "@example.com"), \(appMetadata)::jsonb, \(userMetadata)::jsonb)
            """)
        try await client.query("UPDATE public.profiles SET is_private = \(isPrivate) WHERE id = \(id)")
        return id
    }

    @discardableResult
    public static func createPost(
        _ client: PostgresClient, author: UUID, body: String, visibility: String = "public"
    ) async throws -> UUID {
        let id = UUID()
        try await client.query(
            "INSERT INTO public.posts (id, author_id, body, visibility) VALUES (\(id), \(author), \(body), \(visibility))")
        return id
    }

    public static func follow(_ client: PostgresClient, follower: UUID, followed: UUID, accepted: Bool = true) async throws {
        try await client.query(
            "INSERT INTO public.follows (follower_id, followed_profile_id) VALUES (\(follower), \(followed))")
        if accepted {
            try await client.query(
                "UPDATE public.follows SET status = 'accepted' WHERE follower_id = \(follower) AND followed_profile_id = \(followed)")
        }
    }

    public static func block(_ client: PostgresClient, blocker: UUID, blocked: UUID) async throws {
        try await client.query("INSERT INTO public.blocks (blocker_id, blocked_id) VALUES (\(blocker), \(blocked))")
    }

    /// The caller a signed-in user's JWT becomes.
    public static func caller(_ userID: UUID) -> Caller {
        let sub = userID.uuidString.lowercased()
        return Caller(
            role: .authenticated, claimsJSON: #"{"sub":"\#(sub)","role":"authenticated","aud":"authenticated"}"#,
            userID: userID)
    }

    public static let serviceRole = Caller.serviceRole
}

extension PostgresConnection {
    /// The first column of every row, as strings (ids, names) — for asserting on what a caller sees.
    public func strings(_ query: PostgresQuery, logger: Logger) async throws -> [String] {
        var values: [String] = []
        for try await value in try await self.query(query, logger: logger).decode(String.self) {
            values.append(value)
        }
        return values
    }

    /// Runs a write and returns how many rows it changed.
    public func affectedRows(_ query: PostgresQuery, logger: Logger) async throws -> Int {
        let result = try await self.query(query, logger: logger).get()
        return result.metadata.rows ?? 0
    }
}
