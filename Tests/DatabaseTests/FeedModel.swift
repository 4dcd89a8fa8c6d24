import Database
import Foundation
import Logging
import PostgresNIO
import TestSupport

/// The independent reference for the feeds: the rows as they are stored, and the visibility and
/// feed rules written again in Swift, straight from the product's description (not from the SQL).
struct FeedModel {
    struct Post {
        let id: UUID
        let author: UUID
        let visibility: String
        let createdAt: Date
        var entityTargets: Set<UUID> = []
        var profileTargets: Set<UUID> = []
    }

    var users: [UUID] = []
    var privateProfiles: Set<UUID> = []
    var admins: Set<UUID> = []
    var entities: [UUID] = []
    /// Accepted follows of profiles: follower → followed.
    var follows: Set<Pair> = []
    var entityFollows: Set<Pair> = []
    var blocks: Set<Pair> = []
    var posts: [Post] = []

    struct Pair: Hashable { let from: UUID, to: UUID }

    func follows(_ viewer: UUID, _ author: UUID) -> Bool { follows.contains(Pair(from: viewer, to: author)) }

    func canSee(_ viewer: UUID?, _ post: Post) -> Bool {
        guard let viewer else { return post.visibility == "public" && !privateProfiles.contains(post.author) }
        if viewer == post.author || admins.contains(viewer) { return true }
        if blocks.contains(Pair(from: viewer, to: post.author)) || blocks.contains(Pair(from: post.author, to: viewer)) {
            return false
        }
        switch post.visibility {
        case "public": return !privateProfiles.contains(post.author) || follows(viewer, post.author)
        case "followers": return follows(viewer, post.author)
        default: return false
        }
    }

    /// Newest first; ties on time by id, as PostgreSQL orders uuids (byte order = lower-case hex order).
    static func newestFirst(_ a: Post, _ b: Post) -> Bool {
        a.createdAt != b.createdAt ? a.createdAt > b.createdAt : a.id.uuidString.lowercased() > b.id.uuidString.lowercased()
    }

    func home(_ viewer: UUID) -> [(UUID, [String])] {
        posts.filter { canSee(viewer, $0) }.sorted(by: Self.newestFirst).compactMap { post in
            var reasons: [String] = []
            if post.entityTargets.contains(where: { entityFollows.contains(Pair(from: viewer, to: $0)) }) { reasons.append("entity") }
            if follows(viewer, post.author) { reasons.append("following") }
            if post.profileTargets.contains(viewer) { reasons.append("mention") }
            if post.author == viewer { reasons.append("self") }
            return reasons.isEmpty ? nil : (post.id, reasons)
        }
    }

    func profile(_ viewer: UUID?, _ profile: UUID) -> [(UUID, [String])] {
        let reasons = viewer == profile ? ["self"] : viewer.map { follows($0, profile) } == true ? ["following"] : []
        return posts.filter { $0.author == profile && canSee(viewer, $0) }.sorted(by: Self.newestFirst).map { ($0.id, reasons) }
    }

    func entity(_ viewer: UUID?, _ entity: UUID) -> [(UUID, [String])] {
        posts.filter { $0.entityTargets.contains(entity) && canSee(viewer, $0) }.sorted(by: Self.newestFirst).map { ($0.id, ["entity"]) }
    }
}

extension FeedModel {
    /// A random small world written to the database as its owner, then read back as stored
    /// (triggers decide follow status and end follows across blocks, so the model takes the rows
    /// the database kept rather than what was attempted).
    static func build(seed: UInt64, on client: PostgresClient) async throws -> FeedModel {
        var random = SeededGenerator(seed: seed)
        var model = FeedModel()
        for index in 0..<8 {
            let isPrivate = Double.random(in: 0..<1, using: &random) < 0.3
            let admin = index == 7
            model.users.append(try await Fixtures.createUser(client, username: "user_\(seed)_\(index)", isPrivate: isPrivate, admin: admin))
        }
        for index in 0..<3 {
            let id = UUID()
            try await client.query("INSERT INTO public.entities (id, kind, name) VALUES (\(id), 'place', \("place \(index)"))")
            model.entities.append(id)
        }
        for follower in model.users {
            for followed in model.users where followed != follower && Double.random(in: 0..<1, using: &random) < 0.35 {
                try await Fixtures.follow(client, follower: follower, followed: followed, accepted: Bool.random(using: &random))
            }
            for entity in model.entities where Double.random(in: 0..<1, using: &random) < 0.35 {
                try await client.query("INSERT INTO public.follows (follower_id, followed_entity_id) VALUES (\(follower), \(entity))")
            }
        }
        for blocker in model.users {
            for blocked in model.users where blocked != blocker && Double.random(in: 0..<1, using: &random) < 0.07 {
                try await client.query("INSERT INTO public.blocks (blocker_id, blocked_id) VALUES (\(blocker), \(blocked)) ON CONFLICT DO NOTHING")
            }
        }
        // Times on a coarse grid so that some posts share a timestamp (the id breaks the tie).
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for author in model.users {
            for _ in 0..<Int.random(in: 0...6, using: &random) {
                let id = UUID()
                let visibility = ["public", "public", "followers", "private"].randomElement(using: &random)!
                let createdAt = start.addingTimeInterval(Double(Int.random(in: 0..<40, using: &random)) * 60)
                try await client.query("""
                    INSERT INTO public.posts (id, author_id, body, visibility, created_at)
                    VALUES (\(id), \(author), 'post', \(visibility), \(createdAt))
                    """)
                for entity in model.entities where Double.random(in: 0..<1, using: &random) < 0.25 {
                    try await client.query("INSERT INTO public.post_targets (post_id, target_entity_id) VALUES (\(id), \(entity))")
                }
                for profile in model.users where profile != author && Double.random(in: 0..<1, using: &random) < 0.12 {
                    try await client.query("INSERT INTO public.post_targets (post_id, target_profile_id) VALUES (\(id), \(profile))")
                }
            }
        }
        try await model.readBack(client)
        return model
    }

    mutating func readBack(_ client: PostgresClient) async throws {
        privateProfiles = Set(try await ids(client, "SELECT id FROM public.profiles WHERE is_private"))
        admins = Set(try await ids(client, "SELECT id FROM auth.users WHERE raw_app_meta_data->>'role' = 'admin'"))
        follows = Set(try await pairs(client, """
            SELECT follower_id, followed_profile_id FROM public.follows WHERE status = 'accepted' AND followed_profile_id IS NOT NULL
            """))
        entityFollows = Set(try await pairs(client, "SELECT follower_id, followed_entity_id FROM public.follows WHERE followed_entity_id IS NOT NULL"))
        blocks = Set(try await pairs(client, "SELECT blocker_id, blocked_id FROM public.blocks"))
        posts = []
        for try await (id, author, visibility, createdAt) in try await client.query(
            "SELECT id, author_id, visibility, created_at FROM public.posts"
        ).decode((UUID, UUID, String, Date).self) {
            posts.append(Post(id: id, author: author, visibility: visibility, createdAt: createdAt))
        }
        for try await (postID, entity, profile) in try await client.query(
            "SELECT post_id, target_entity_id, target_profile_id FROM public.post_targets"
        ).decode((UUID, UUID?, UUID?).self) {
            guard let index = posts.firstIndex(where: { $0.id == postID }) else { continue }
            if let entity { posts[index].entityTargets.insert(entity) }
            if let profile { posts[index].profileTargets.insert(profile) }
        }
    }

    private func ids(_ client: PostgresClient, _ query: PostgresQuery) async throws -> [UUID] {
        var result: [UUID] = []
        for try await id in try await client.query(query).decode(UUID.self) { result.append(id) }
        return result
    }

    private func pairs(_ client: PostgresClient, _ query: PostgresQuery) async throws -> [Pair] {
        var result: [Pair] = []
        for try await (from, to) in try await client.query(query).decode((UUID, UUID).self) { result.append(Pair(from: from, to: to)) }
        return result
    }
}
