import AsyncHTTPClient
import FeedCache
import Foundation
import NIOCore
import NIOHTTP1
import Seeding

/// What one virtual user knows between its requests, and how it turns an operation into a
/// request the way the Supabase clients send it (`POST /rest/v1/rpc/<fn>` with JSON arguments).
struct VirtualUser: Sendable {
    let number: Int
    /// nil for an anonymous reader.
    let token: String?
    /// The signed-in user's id (their own profile), nil for an anonymous reader.
    var userID: String? = nil
    var cursor: String?
    var seenPosts: [String] = []
    var following = false
    var posts = 0

    /// The request for `operation`, and the operation it really is (a like with no post seen yet
    /// reads the home feed instead), whose name is the scenario it is recorded under.
    mutating func request(_ operation: Operation, world: LoadWorld, target: LoadTarget) -> (HTTPClientRequest, Operation) {
        var operation = operation
        if operation == .like, seenPosts.isEmpty { operation = .home }
        // Arguments as JSON members (`LeanJSON`: the generator's CPU is taken from the server's cores).
        let q = LeanJSON.quoted
        let (function, arguments): (String, [(name: String, value: String)])
        switch operation {
        case .home:
            // Mostly the first page; one time in five the next page, with the last page's cursor.
            if let cursor, Double.random(in: 0..<1) < 0.2 {
                (function, arguments) = ("feed_fusion_home", [("p_limit", "20"), ("p_cursor", q(cursor))])
            } else {
                (function, arguments) = ("feed_fusion_home", [("p_limit", "20")])
            }
        case .profile: (function, arguments) = ("feed_fusion_profile", [("p_profile_id", q(world.profile()))])
        case .entity:
            (function, arguments) = world.entities.isEmpty
                ? ("feed_fusion_profile", [("p_profile_id", q(world.profile()))])
                : ("feed_fusion_entity", [("p_entity_id", q(world.entities.randomElement()!))])
        case .nearby:
            (function, arguments) = ("feed_fusion_nearby", Self.nearbyArguments())
        case .post:
            posts += 1
            (function, arguments) = ("create_post", [("p_body", q("load test \(number)-\(posts): what a day"))])
        case .like: (function, arguments) = ("like_post", [("p_post_id", q(seenPosts.randomElement()!))])
        case .follow:
            following.toggle()
            // Anyone but themselves (following yourself is refused).
            var other = world.profile()
            if other == userID, world.profiles.count > 1 { other = world.profiles.first { $0 != userID }! }
            (function, arguments) = (following ? "follow_profile" : "unfollow_profile", [("p_profile_id", q(other))])
        case .events:
            let events = (0..<10).map {
                LeanJSON.object([("event", q("feed.view")), ("props", LeanJSON.object([("position", "\($0)")])), ("session_id", q("load-\(number)"))])
            }
            (function, arguments) = ("log_usage_events", [("p_events", "[" + events.joined(separator: ",") + "]")])
        case .anon:
            let pick = Int.random(in: 0..<3)
            if pick == 0 || world.entities.isEmpty {
                (function, arguments) = ("feed_fusion_profile", [("p_profile_id", q(world.profile()))])
            } else if pick == 1 {
                (function, arguments) = ("feed_fusion_entity", [("p_entity_id", q(world.entities.randomElement()!))])
            } else {
                (function, arguments) = ("feed_fusion_nearby", Self.nearbyArguments())
            }
        }
        var request = HTTPClientRequest(url: "\(target.baseURL)/rest/v1/rpc/\(function)")
        request.method = .POST
        request.headers.add(name: "apikey", value: target.anonKey)
        request.headers.add(name: "Authorization", value: "Bearer \(token ?? target.anonKey)")
        request.headers.add(name: "Content-Type", value: "application/json")
        // One client address per virtual user: a server that trusts this machine as a proxy
        // (TRUSTED_PROXIES) applies its per-client limits per virtual user, as with real clients.
        request.headers.add(name: "X-Forwarded-For", value: "10.\(number >> 16 & 255).\(number >> 8 & 255).\(number & 255)")
        request.body = .bytes(ByteBuffer(string: LeanJSON.object(arguments)))
        return (request, operation)
    }

    /// Around one of the seed's cities, 5 km.
    static func nearbyArguments() -> [(name: String, value: String)] {
        let city = LoadWorld.cities.randomElement()!
        return [("p_lat", "\(city.0)"), ("p_lng", "\(city.1)"), ("p_radius_m", "5000")]
    }

    /// Remembers what the next requests need from a home feed page: its last cursor and its posts.
    mutating func read(homePage body: ByteBuffer) {
        // The server's own scan of the rows it wrote (ids and cursors), not a JSON parse.
        let rows = FeedPageSlots.scan(body)?.rows ?? []
        cursor = rows.last?.cursor
        for row in rows.prefix(5) {
            seenPosts.append(row.id)
        }
        if seenPosts.count > 50 { seenPosts.removeFirst(seenPosts.count - 50) }
    }
}

/// The ids the operations pick from: seeded profiles and entities.
///
/// Profiles are read (and followed) in proportion to their followers, as people browse: the seed's
/// power law makes a few profiles far more read than most, so their feeds are the ones a cache keeps
/// warm — reading all 10,000 uniformly would measure a workload no social app has. Entities are
/// followed and targeted uniformly by the seed, so they are read uniformly.
struct LoadWorld: Sendable {
    let profiles: [String]
    let entities: [String]
    let popularity: WeightedIndex?

    init(profiles: [String], entities: [String], followers: [Int]? = nil) {
        self.profiles = profiles
        self.entities = entities
        // +1: a profile nobody follows is still visited now and then.
        popularity = followers.flatMap { WeightedIndex(weights: $0.map { Double($0) + 1 }) }
    }

    /// A profile to read or follow, by popularity when the users file gives follower counts.
    func profile() -> String {
        guard let popularity, popularity.count == profiles.count else { return profiles.randomElement()! }
        return profiles[popularity.draw(unit: Double.random(in: 0..<1))]
    }
    static let cities: [(Double, Double)] = [(48.8566, 2.3522), (40.7128, -74.0060), (51.5074, -0.1278), (35.6762, 139.6503)]
}
