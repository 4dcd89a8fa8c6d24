/// The sizes of a generated data set.
public struct SeedPlan: Sendable {
    public var seed: UInt64 = 1
    public var users = 10_000
    public var posts = 1_000_000
    public var entities = 500
    /// The posts span this many days, ending at `endMicroseconds`.
    public var days = 365
    public var endMicroseconds: Int64 = 0

    public init() {}
}

/// Cities the places cluster around (latitude, longitude).
let seedCities: [(name: String, latitude: Double, longitude: Double)] = [
    ("Paris", 48.8566, 2.3522), ("New York", 40.7128, -74.0060), ("Tokyo", 35.6762, 139.6503),
    ("São Paulo", -23.5505, -46.6333), ("Nairobi", -1.2921, 36.8219), ("Sydney", -33.8688, 151.2093),
]

/// Users, entities and the social graph: small enough (tens of thousands of rows of ids) to hold in
/// memory, and everything posts refer to.
struct SeedWorld {
    struct User {
        let id: SeedID
        let username: String
        let isPrivate: Bool
    }

    struct Entity {
        let id: SeedID
        let kind: String
        let name: String
        let location: (latitude: Double, longitude: Double)?
    }

    struct Follow {
        let follower: Int
        let followed: Int
        let accepted: Bool
    }

    let plan: SeedPlan
    var users: [User] = []
    var entities: [Entity] = []
    var follows: [Follow] = []
    var entityFollows: [(follower: Int, entity: Int)] = []
    var blocks: [(blocker: Int, blocked: Int)] = []
    /// Who posts: a power law over users (a few post a lot).
    let authorWeights: WeightedIndex

    init(plan: SeedPlan) {
        self.plan = plan
        authorWeights = WeightedIndex(zipfOver: plan.users, exponent: 0.7)
        var random = SeededRandom(seed: plan.seed)
        for index in 0..<plan.users {
            users.append(User(id: SeedID.random(&random), username: seedUsername(index), isPrivate: random.chance(0.1)))
        }
        let kinds = ["place", "place", "place", "group", "event", "topic", "organization"]
        for index in 0..<plan.entities {
            let kind = kinds[random.below(kinds.count)]
            let city = seedCities[random.below(seedCities.count)]
            let located = kind == "place" || kind == "event" || random.chance(0.3)
            entities.append(Entity(
                id: SeedID.random(&random), kind: kind, name: "\(city.name) \(kind) \(index)",
                location: located ? Self.near(city.latitude, city.longitude, kilometres: 8, &random) : nil))
        }
        // Blocks first, so that no follow crosses one (a block ends follows both ways).
        var blocked = Set<Int64>()
        func pairKey(_ a: Int, _ b: Int) -> Int64 { Int64(min(a, b)) << 32 | Int64(max(a, b)) }
        for blocker in 0..<plan.users where random.chance(0.01) {
            for _ in 0..<(1 + random.below(3)) {
                let target = random.below(plan.users)
                guard target != blocker, blocked.insert(pairKey(blocker, target)).inserted else { continue }
                blocks.append((blocker, target))
            }
        }
        // Who gets followed: a power law over users (a few have thousands of followers, most tens).
        // How many each follows: log-normal around 25, and a handful of heavy followers.
        let popularity = WeightedIndex(zipfOver: plan.users, exponent: 0.9)
        for follower in 0..<plan.users {
            let heavy = follower % max(plan.users / 5, 1) == 7
            let wanted = heavy
                ? min(plan.users - 1, 2000 + random.below(3000))
                : min(plan.users - 1, max(1, Int(exp(3.2 + 0.9 * random.normal()))))
            var chosen = Set<Int>()
            var attempts = 0
            while chosen.count < wanted && attempts < wanted * 4 {
                attempts += 1
                // Popular profiles by rank, mixed with uniform picks so that heavy followers reach wide.
                let followed = random.chance(0.7) ? popularity.draw(using: &random) : random.below(plan.users)
                guard followed != follower, !blocked.contains(pairKey(follower, followed)), chosen.insert(followed).inserted else {
                    continue
                }
                let accepted = !users[followed].isPrivate || random.chance(0.85)
                follows.append(Follow(follower: follower, followed: followed, accepted: accepted))
            }
            if plan.entities > 0 {
                var followedEntities = Set<Int>()
                for _ in 0..<random.geometric(mean: 3) { followedEntities.insert(random.below(plan.entities)) }
                entityFollows += followedEntities.sorted().map { (follower, $0) }
            }
        }
    }

    /// A point about `kilometres` (one standard deviation) from a centre.
    static func near(_ latitude: Double, _ longitude: Double, kilometres: Double, _ random: inout SeededRandom)
        -> (latitude: Double, longitude: Double)
    {
        let degrees = kilometres / 111.0
        let lat = max(-89.9, min(89.9, latitude + random.normal() * degrees))
        let lng = longitude + random.normal() * degrees / max(cos(latitude * .pi / 180), 0.01)
        return (lat, lng > 180 ? lng - 360 : lng < -180 ? lng + 360 : lng)
    }
}

/// One post, recomputed from its index in any pass (posts, targets, likes): nothing about a
/// million posts is kept in memory.
struct SeedPost {
    let id: SeedID
    let author: Int
    let body: String
    let visibility: String
    let createdMicroseconds: Int64
    let location: (latitude: Double, longitude: Double)?
    let entityTargets: [Int]
    let profileTargets: [Int]
    let likers: [Int]

    static let words = [
        "coffee", "sunset", "park", "run", "music", "friends", "market", "rain", "train", "book", "garden",
        "city", "river", "bread", "game", "museum", "street", "bike", "lunch", "concert", "beach", "snow",
    ]

    init(index: Int, world: SeedWorld) {
        let plan = world.plan
        var random = SeededRandom.derived(seed: plan.seed, stream: 1, index: UInt64(index))
        // Evenly spread in time in index order, so ids (time-ordered) ascend with the index.
        let span = Int64(plan.days) * 86_400_000_000
        let step = span / Int64(max(plan.posts, 1))
        createdMicroseconds = plan.endMicroseconds - span + Int64(index) * step + Int64(random.below(Int(max(step, 1))))
        id = SeedID.timeOrdered(milliseconds: createdMicroseconds / 1000, &random)
        author = world.authorWeights.draw(using: &random)
        let roll = random.unit()
        visibility = roll < 0.80 ? "public" : roll < 0.95 ? "followers" : "private"
        var text = ""
        for wordIndex in 0..<(3 + random.below(12)) {
            if wordIndex > 0 { text += " " }
            text += Self.words[random.below(Self.words.count)]
        }
        body = text
        var entityTargets: [Int] = []
        if !world.entities.isEmpty && random.chance(0.2) {
            entityTargets.append(random.below(world.entities.count))
            if random.chance(0.1) {
                let second = random.below(world.entities.count)
                if second != entityTargets[0] { entityTargets.append(second) }
            }
        }
        self.entityTargets = entityTargets
        if random.chance(0.3) {
            let city = seedCities[random.below(seedCities.count)]
            location = SeedWorld.near(city.latitude, city.longitude, kilometres: 6, &random)
        } else {
            location = nil
        }
        var profileTargets: [Int] = []
        if random.chance(0.04) {
            let mentioned = random.below(plan.users)
            if mentioned != author { profileTargets.append(mentioned) }
        }
        self.profileTargets = profileTargets
        // Likes on public posts only: a like needs the liker to see the post.
        var likers = Set<Int>()
        for _ in 0..<(visibility == "public" ? random.geometric(mean: 1.2) : 0) {
            let liker = random.below(plan.users)
            if liker != author { likers.insert(liker) }
        }
        self.likers = likers.sorted()
    }
}

/// `user_000042`: valid under the username rule, sortable, predictable for the load test.
func seedUsername(_ index: Int) -> String {
    let digits = String(index)
    return "user_" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
