import Database
import Foundation
import PostgresNIO
import Testing
import TestSupport

/// `profile_summary` (migration 0034): a private profile is found by name — id, username, display
/// name, private — so that one can ask to follow it; its bio only for those the policy lets read the
/// row; nothing for whoever it blocked, for unknown or malformed names.
@Suite("Profile summary")
struct ProfileSummaryTests {
    static func summary(_ client: PostgresClient, as viewer: UUID?, _ username: String) async throws -> [String: Any]? {
        let caller = viewer.map(Fixtures.caller) ?? Caller.anonymous
        let text = try await client.withCaller(caller, readOnly: true, logger: testLogger) { connection in
            try await connection.query("SELECT public.profile_summary(\(username))::text", logger: testLogger)
                .decode(String?.self).first { _ in true } ?? nil
        }
        return try text.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
    }

    @Test("private: name only to strangers, everything to followers; nothing to the blocked")
    func privateProfiles() async throws {
        let database = try await TestDatabase.migrated()
        try await database.withClient { client in
            let owner = try await Fixtures.createUser(client, username: "hidden_one", isPrivate: true)
            try await client.query("UPDATE public.profiles SET bio = 'secret bio', display_name = 'Hidden' WHERE id = \(owner)")
            let stranger = try await Fixtures.createUser(client, username: "stranger")
            let follower = try await Fixtures.createUser(client, username: "follower")
            let blocked = try await Fixtures.createUser(client, username: "blocked")
            try await Fixtures.follow(client, follower: follower, followed: owner)
            try await Fixtures.block(client, blocker: owner, blocked: blocked)

            for viewer in [stranger, nil] as [UUID?] {
                let seen = try #require(try await Self.summary(client, as: viewer, "hidden_one"))
                #expect(seen["id"] as? String == owner.uuidString.lowercased())
                #expect(seen["display_name"] as? String == "Hidden")
                #expect(seen["visible"] as? Bool == false && seen["is_private"] as? Bool == true)
                #expect(seen["bio"] == nil, "the bio stays behind the policy")
            }
            let full = try #require(try await Self.summary(client, as: follower, "hidden_one"))
            #expect(full["bio"] as? String == "secret bio" && full["visible"] as? Bool == true)
            #expect(try await Self.summary(client, as: owner, "hidden_one")?["visible"] as? Bool == true)
            #expect(try await Self.summary(client, as: blocked, "hidden_one") == nil)
            #expect(try await Self.summary(client, as: stranger, "nobody_here") == nil)
            #expect(try await Self.summary(client, as: stranger, "bad name'; --") == nil)
            // A public profile: in full, to anyone.
            #expect(try await Self.summary(client, as: nil, "stranger")?["visible"] as? Bool == true)
        }
    }
}
