import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Loads a generated data set with COPY, table by table, showing progress; answers what it wrote.
public struct SeedLoader: Sendable {
    public struct Summary: Sendable {
        public var rows: [(table: String, count: Int)] = []
        public var seconds: Double = 0
        public var medianUser: SeedUserInfo?
        public var heaviestFollower: SeedUserInfo?
        public var sampleUsers: [SeedUserInfo] = []
    }

    public struct SeedUserInfo: Sendable, Codable {
        public let id: String
        public let email: String
        public let username: String
        public let follows: Int
        /// How many follow this user: the load test reads popular profiles more, as people do.
        public let followers: Int
    }

    public let plan: SeedPlan
    /// The bcrypt hash every seeded user's password has (hashing 10,000 passwords would take minutes).
    public let passwordHash: String
    let progress: @Sendable (String, Int, Int) -> Void

    public init(plan: SeedPlan, passwordHash: String, progress: @escaping @Sendable (String, Int, Int) -> Void) {
        self.plan = plan
        self.passwordHash = passwordHash
        self.progress = progress
    }

    public static func email(_ username: String) -> String { "\(username)@seed.feedfusion.test" }

    /// Loads into an empty data set (`reset` empties it first). Needs a superuser connection:
    /// triggers and foreign-key checks are skipped (`session_replication_role = replica`) because the
    /// generator writes the rows they would derive, and that makes the load several times faster.
    public func load(on connection: PostgresConnection, reset: Bool, logger: Logger) async throws -> Summary {
        let started = ContinuousClock.now
        let superuser = try await connection.query(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user", logger: logger).collect()
        guard try superuser.first?.decode(Bool.self) == true else { throw SeedError.notSuperuser }
        let existing = try await connection.query("SELECT EXISTS (SELECT 1 FROM auth.users)", logger: logger).collect()
        if try existing.first?.decode(Bool.self) == true {
            guard reset else { throw SeedError.notEmpty }
            try await connection.query("TRUNCATE auth.users, public.entities CASCADE", logger: logger)
        }
        try await connection.query("SET session_replication_role = replica", logger: logger)
        let world = SeedWorld(plan: plan)
        var summary = Summary()

        summary.rows.append(("auth.users", try await copy(connection, "auth", "users",
            ["id", "email", "encrypted_password", "email_confirmed_at", "raw_app_meta_data", "raw_user_meta_data", "created_at", "updated_at"],
            count: world.users.count, logger: logger) { index, rows in
                let user = world.users[index]
                rows.uuid(user.id)
                rows.plain(Self.email(user.username))
                rows.text(passwordHash)
                rows.timestamp(microseconds: plan.endMicroseconds - Int64(plan.days) * 86_400_000_000)
                // The first user is an admin, for the dashboard and the load test's admin scenario.
                rows.plain(index == 0 ? #"{"provider":"email","providers":["email"],"role":"admin"}"# : #"{"provider":"email","providers":["email"]}"#)
                rows.plain(#"{"username":"\#(user.username)"}"#)
                rows.timestamp(microseconds: plan.endMicroseconds - Int64(plan.days) * 86_400_000_000)
                rows.timestamp(microseconds: plan.endMicroseconds - Int64(plan.days) * 86_400_000_000)
            }))
        summary.rows.append(("public.profiles", try await copy(connection, "public", "profiles",
            ["id", "username", "display_name", "is_private"], count: world.users.count, logger: logger) { index, rows in
                let user = world.users[index]
                rows.uuid(user.id)
                rows.plain(user.username)
                rows.plain("User \(index)")
                rows.bool(user.isPrivate)
            }))
        summary.rows.append(("public.entities", try await copy(connection, "public", "entities",
            ["id", "kind", "name", "location", "created_by"], count: world.entities.count, logger: logger) { index, rows in
                let entity = world.entities[index]
                rows.uuid(entity.id)
                rows.plain(entity.kind)
                rows.text(entity.name)
                if let location = entity.location { rows.point(latitude: location.latitude, longitude: location.longitude) } else { rows.null() }
                rows.uuid(world.users[index % world.users.count].id)
            }))
        summary.rows.append(("public.follows", try await copy(connection, "public", "follows",
            ["follower_id", "followed_profile_id", "followed_entity_id", "status"],
            count: world.follows.count + world.entityFollows.count, logger: logger) { index, rows in
                if index < world.follows.count {
                    let follow = world.follows[index]
                    rows.uuid(world.users[follow.follower].id)
                    rows.uuid(world.users[follow.followed].id)
                    rows.null()
                    rows.plain(follow.accepted ? "accepted" : "pending")
                } else {
                    let follow = world.entityFollows[index - world.follows.count]
                    rows.uuid(world.users[follow.follower].id)
                    rows.null()
                    rows.uuid(world.entities[follow.entity].id)
                    rows.plain("accepted")
                }
            }))
        // What the follows trigger keeps for the feed policies (migration 0013), derived in one statement.
        try await connection.query("""
            INSERT INTO internal.followed_profiles (user_id, profiles)
            SELECT follower_id, array_agg(followed_profile_id ORDER BY followed_profile_id) FROM public.follows
            WHERE status = 'accepted' AND followed_profile_id IS NOT NULL
            GROUP BY follower_id
            """, logger: logger)
        summary.rows.append(("public.blocks", try await copy(connection, "public", "blocks",
            ["blocker_id", "blocked_id"], count: world.blocks.count, logger: logger) { index, rows in
                rows.uuid(world.users[world.blocks[index].blocker].id)
                rows.uuid(world.users[world.blocks[index].blocked].id)
            }))
        summary.rows.append(("public.posts", try await copy(connection, "public", "posts",
            ["id", "author_id", "body", "visibility", "location", "created_at", "updated_at", "author_private", "like_count"],
            count: plan.posts, logger: logger) { index, rows in
                let post = SeedPost(index: index, world: world)
                rows.uuid(post.id)
                rows.uuid(world.users[post.author].id)
                rows.plain(post.body)
                rows.plain(post.visibility)
                if let location = post.location { rows.point(latitude: location.latitude, longitude: location.longitude) } else { rows.null() }
                rows.timestamp(microseconds: post.createdMicroseconds)
                rows.timestamp(microseconds: post.createdMicroseconds)
                rows.bool(world.users[post.author].isPrivate)
                rows.integer(post.likers.count)
            }))
        summary.rows.append(("public.post_targets", try await copyPerPost(connection, "post_targets",
            ["post_id", "target_entity_id", "target_profile_id", "post_created_at", "post_author_id", "post_visibility", "post_author_private"],
            world: world, logger: logger) { post, rows in
                // What the trigger copies from the post (the policy reads it from the target row).
                func postColumns() {
                    rows.timestamp(microseconds: post.createdMicroseconds)
                    rows.uuid(world.users[post.author].id)
                    rows.plain(post.visibility)
                    rows.bool(world.users[post.author].isPrivate)
                    rows.endRow()
                }
                for entity in post.entityTargets {
                    rows.uuid(post.id); rows.uuid(world.entities[entity].id); rows.null()
                    postColumns()
                }
                for profile in post.profileTargets {
                    rows.uuid(post.id); rows.null(); rows.uuid(world.users[profile].id)
                    postColumns()
                }
            }))
        summary.rows.append(("public.post_likes", try await copyPerPost(connection, "post_likes",
            ["post_id", "profile_id", "created_at"], world: world, logger: logger) { post, rows in
                for liker in post.likers {
                    rows.uuid(post.id); rows.uuid(world.users[liker].id); rows.timestamp(microseconds: post.createdMicroseconds + 60_000_000)
                    rows.endRow()
                }
            }))
        try await connection.query("SET session_replication_role = origin", logger: logger)
        // VACUUM too, not only ANALYZE: a million rows just copied in are due for autovacuum, which
        // would otherwise read them all (and their indexes) in the first minutes after the seed —
        // during whatever benchmark runs next, on the same cores. A database in use has them
        // vacuumed long ago; this leaves the seeded one in that state (and its visibility map set).
        progress("vacuum and analyze", 0, 1)
        try await connection.query("VACUUM (ANALYZE)", logger: logger)
        progress("vacuum and analyze", 1, 1)
        // The dashboard's totals are kept by triggers the load skipped; its closed days are computed
        // now, once, rather than by the first admin to open the Overview (migration 0032).
        try await connection.query("SELECT internal.recount_dashboard_figures()", logger: logger)
        try await connection.query("SELECT internal.activity_days_upto_today(90)", logger: logger)

        var followCounts = [Int](repeating: 0, count: world.users.count)
        var followerCounts = [Int](repeating: 0, count: world.users.count)
        for follow in world.follows where follow.accepted {
            followCounts[follow.follower] += 1
            followerCounts[follow.followed] += 1
        }
        func info(_ index: Int) -> SeedUserInfo {
            let user = world.users[index]
            return SeedUserInfo(id: user.id.text, email: Self.email(user.username), username: user.username, follows: followCounts[index],
                followers: followerCounts[index])
        }
        let byFollows = followCounts.indices.sorted { followCounts[$0] < followCounts[$1] }
        summary.medianUser = info(byFollows[byFollows.count / 2])
        summary.heaviestFollower = info(byFollows[byFollows.count - 1])
        summary.sampleUsers = (0..<min(1000, world.users.count)).map { info($0 * max(world.users.count / 1000, 1)) }
        summary.seconds = Double((ContinuousClock.now - started).components.seconds)
            + Double((ContinuousClock.now - started).components.attoseconds) / 1e18
        return summary
    }

    /// COPY `count` rows made by `row` into `schema.table`.
    private func copy(
        _ connection: PostgresConnection, _ schema: String, _ table: String, _ columns: [String], count: Int, logger: Logger,
        row: (Int, inout CopyRows) -> Void
    ) async throws -> Int {
        try await stream(connection, schema, table, columns, items: count, logger: logger) { index, rows in
            row(index, &rows)
            rows.endRow()
        }
    }

    /// COPY the rows each post contributes (zero or more, ended by `rows` itself) into `public.table`.
    private func copyPerPost(
        _ connection: PostgresConnection, _ table: String, _ columns: [String], world: SeedWorld, logger: Logger,
        rows make: (SeedPost, inout CopyRows) -> Void
    ) async throws -> Int {
        try await stream(connection, "public", table, columns, items: plan.posts, logger: logger) { index, rows in
            make(SeedPost(index: index, world: world), &rows)
        }
    }

    /// Streams the complete rows `produce` writes for each of `items` items into `schema.table`,
    /// flushing every 256 KiB and reporting progress by item; answers how many rows it wrote.
    private func stream(
        _ connection: PostgresConnection, _ schema: String, _ table: String, _ columns: [String], items: Int, logger: Logger,
        produce: (Int, inout CopyRows) -> Void
    ) async throws -> Int {
        // PostgresNIO quotes the table name as one identifier, so the schema comes from search_path.
        try await connection.query(PostgresQuery(unsafeSQL: "SET search_path = \(schema)"), logger: logger)
        let label = "\(schema).\(table)"
        var written = 0
        progress(label, 0, items)
        try await connection.copyFrom(table: table, columns: columns, logger: logger) { writer in
            var rows = CopyRows()
            var reported = 0
            for index in 0..<items {
                produce(index, &rows)
                if rows.buffer.readableBytes >= 1 << 18 {
                    try await writer.write(rows.take())
                    if index - reported >= items / 100 {
                        progress(label, index, items)
                        reported = index
                    }
                }
            }
            if rows.buffer.readableBytes > 0 { try await writer.write(rows.take()) }
            written = rows.rowCount
        }
        progress(label, items, items)
        return written
    }
}

public enum SeedError: Error, CustomStringConvertible {
    case notEmpty
    case notSuperuser

    public var description: String {
        switch self {
        case .notEmpty: "the database already has users; pass --reset to replace all users, posts and entities with the generated set"
        case .notSuperuser: "seeding needs a superuser connection (it loads with triggers off); use the managed database or a superuser DATABASE_URL"
        }
    }
}
