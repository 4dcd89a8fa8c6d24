import Crypto
import Foundation
import Logging
import NIOCore
import Redis
import Synchronization

/// The cache's second level, in Redis: answers shared by every server instance.
///
/// Exactness without knowing which keys a write touches: every tag (`home:<user>`, `entity:<id>`…),
/// every tag kind and the whole cache have a **version** in Redis. An entry is stored with the
/// versions read *before* its query ran, and is served only while they are all unchanged; an
/// invalidation replaces the versions it concerns with a fresh random token (never a counter: a
/// version key lost to eviction or a restart must not come back with an old value). A query that
/// raced a write therefore never outlives the write's invalidation, wherever it was computed.
///
/// Home feeds are invalidated by following the author, so the instances need to know whose home feeds
/// are cached anywhere: a lookup of a home feed records its user (before the query runs) in a sorted
/// set scored by expiry.
///
/// When Redis fails, answers come from the database and this level is skipped for a second at a
/// time. An invalidation that could not be written leaves Redis possibly holding answers that should
/// have gone, so the level stays unused until the whole-cache version has been replaced.
public final class SharedCache: Sendable {
    public struct Configuration: Sendable {
        public var prefix = "feedfusion:cache"
        public var ttl: Duration = .seconds(60)
        /// How long a home feed's user stays in the set of cached homes beyond the entry's TTL
        /// (covers the query's own time between the lookup and the store).
        public var homeMargin: Duration = .seconds(60)
        /// How long to leave Redis alone after a failure.
        public var backoff: Duration = .seconds(1)
        public init() {}
    }

    public enum Lookup: Sendable {
        /// A valid shared answer, with the time it has left and what computing it cost.
        case hit(CachedResponse, timeToLive: Duration, cost: Duration, Versions)
        /// Not there (or outdated): store the answer with these versions.
        case miss(Versions)
        /// Redis is away: go to the database and store nothing.
        case unavailable
    }

    /// The versions of an entry's tags when its lookup ran.
    public struct Versions: Sendable, Equatable {
        let tokens: [String]
        var encoded: String { tokens.joined(separator: " ") }
    }

    public struct Statistics: Sendable, Equatable {
        public var hits = 0, misses = 0, stores = 0, failures = 0, flushes = 0
    }

    public let configuration: Configuration
    public static let channel = "feedfusion:cache:invalidations"
    /// Tells this instance's own announcements apart from the others'.
    public let instance = UUID().uuidString
    let redis: RedisClient
    let logger: Logger
    /// Gzips a body read from Redis when it is worth it (as the HTTP layer does for computed answers).
    let compress: @Sendable (ByteBuffer) -> ByteBuffer?
    private let state = Mutex(State())

    struct State {
        /// Redis failed; set until it answers again.
        var down = false
        var skipUntil: ContinuousClock.Instant?
        /// An invalidation could not be written: Redis may hold answers that should be gone.
        var mustFlush = false
        /// A flush attempt is waiting for the backoff to end.
        var flushScheduled = false
        var statistics = Statistics()
    }

    public init(
        redis: RedisClient, configuration: Configuration = Configuration(), logger: Logger,
        compress: @escaping @Sendable (ByteBuffer) -> ByteBuffer? = { _ in nil }
    ) {
        self.redis = redis
        self.configuration = configuration
        self.logger = logger
        self.compress = compress
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    // MARK: - Keys

    func entryKey(_ key: String) -> String {
        "\(configuration.prefix):e:" + SHA256.hash(data: Array(key.utf8)).hexEncoded
    }

    var homesKey: String { "\(configuration.prefix):homes" }

    func versionKey(_ tag: CacheTag) -> String { "\(configuration.prefix):v:\(tag.kind):\(tag.id)" }
    func versionKey(kind: String) -> String { "\(configuration.prefix):k:\(kind)" }
    var wholeCacheVersionKey: String { "\(configuration.prefix):all" }

    /// The version keys an entry depends on: each tag, each tag's kind, and the whole cache.
    func versionKeys(_ tags: [CacheTag]) -> [String] {
        tags.map(versionKey) + Set(tags.map(\.kind)).sorted().map { versionKey(kind: $0) } + [wholeCacheVersionKey]
    }

    // MARK: - Lookup and store

    static let lookupScript = RedisScript("""
        local entry = redis.call('GET', KEYS[1])
        local ttl = -2
        if entry then ttl = redis.call('PTTL', KEYS[1]) end
        if ARGV[2] ~= '' then
          local t = redis.call('TIME')
          local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
          redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
        end
        local versions = {}
        for i = 3, #KEYS do
          local v = redis.call('GET', KEYS[i])
          if not v then
            v = ARGV[1]
            redis.call('SET', KEYS[i], v)
          end
          versions[#versions + 1] = v
        end
        return {entry or '', ttl, versions}
        """)

    /// The shared answer for `key`, if every version it was stored with is still current.
    /// `homeOf` names the user when the answer is a home feed.
    public func lookup(_ key: String, tags: [CacheTag], homeOf user: String?) async -> Lookup {
        guard await usable() else { return .unavailable }
        do {
            let reply = try await redis.run(
                Self.lookupScript, keys: [entryKey(key), homesKey] + versionKeys(tags),
                arguments: [Self.token(), user ?? "", "\(Self.milliseconds(configuration.ttl + configuration.homeMargin))"])
            guard let parts = reply.array, parts.count == 3, let ttl = parts[1].integer, let tokens = parts[2].array?.compactMap(\.string)
            else { throw RedisError.unexpectedReply("\(reply)") }
            let versions = Versions(tokens: tokens)
            if case .bulkString(let stored?) = parts[0], stored.readableBytes > 0, ttl > 0,
               let (response, cost) = decode(stored, versions: versions)
            {
                succeeded { $0.hits += 1 }
                return .hit(response, timeToLive: .milliseconds(ttl), cost: cost, versions)
            }
            succeeded { $0.misses += 1 }
            return .miss(versions)
        } catch {
            failed(error, invalidating: false)
            return .unavailable
        }
    }

    /// Stores a computed answer with the versions its lookup read.
    public func store(_ key: String, _ response: CachedResponse, versions: Versions, cost: Duration) async {
        guard await usable() else { return }
        do {
            _ = try await redis.send([
                "SET", entryKey(key), Self.encode(response, versions: versions, cost: cost), "PX", "\(Self.milliseconds(configuration.ttl))",
            ])
            succeeded { $0.stores += 1 }
        } catch {
            failed(error, invalidating: false)
        }
    }

    // MARK: - Invalidation

    /// What one invalidation drops, as announced to the other instances.
    public struct Announcement: Codable, Sendable, Equatable {
        public var from: String
        public var tags: [String]
        public var kinds: [String]
    }

    /// Replaces the versions of `tags`, of whole `kinds`, or (`all`) of everything, then tells the other
    /// instances (pub/sub) to drop their in-process copies of those tags and kinds. On failure this level
    /// is unused until flushed.
    ///
    /// Replacing everything is not announced: it is what an instance does when *it* may have missed
    /// invalidations (its listener reconnected, Redis lost one of its writes). Every instance applies
    /// every write's NOTIFY itself, so the others' copies are as exact as before — telling them to drop
    /// everything would only empty their caches each time an instance starts.
    public func invalidate(_ tags: [CacheTag], kinds: [String] = [], all: Bool = false) async {
        let token = Self.token()
        var keys = Set(tags.map(versionKey))
        keys.formUnion(kinds.map { versionKey(kind: $0) })
        if all { keys.insert(wholeCacheVersionKey) }
        guard !keys.isEmpty else { return }
        if state.withLock({ $0.mustFlush }) { return }  // everything goes at the flush anyway
        do {
            _ = try await redis.send(["MSET"] + keys.sorted().flatMap { [$0, token] })
            if !tags.isEmpty || !kinds.isEmpty {
                try await publish(Announcement(from: instance, tags: tags.map(\.description), kinds: kinds))
            }
            succeeded { _ in }
        } catch {
            failed(error, invalidating: true)
        }
    }

    /// Users whose home feed may be cached in Redis. When Redis does not answer the list is empty and
    /// the level must be flushed before reuse, as an invalidation may be missing.
    public func cachedHomes() async -> Set<String> {
        guard await usable() else { return [] }
        do {
            let reply = try await redis.run(Self.homesScript, keys: [homesKey], arguments: [])
            succeeded { _ in }
            return Set(reply.array?.compactMap(\.string) ?? [])
        } catch {
            failed(error, invalidating: true)
            return []
        }
    }

    static let homesScript = RedisScript("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        return redis.call('ZRANGE', KEYS[1], 0, -1)
        """)

    /// Drops every shared answer at once the next time Redis can be reached (e.g. after events may have
    /// been missed). Until then this level is not used.
    public func requireFlush() {
        state.withLock { $0.mustFlush = true }
    }

    // MARK: - Availability

    /// Whether Redis may be used now: not within the backoff, and flushed if an invalidation was lost.
    private func usable() async -> Bool {
        let (skip, mustFlush) = state.withLock { state in
            (state.skipUntil.map { ContinuousClock.now < $0 } ?? false, state.mustFlush)
        }
        if skip { return false }
        guard mustFlush else { return true }
        do {
            _ = try await redis.send(["SET", wholeCacheVersionKey, Self.token()])
            state.withLock { $0.mustFlush = false }
            succeeded { $0.flushes += 1 }
            return true
        } catch {
            failed(error, invalidating: true)
            return false
        }
    }

    private func publish(_ announcement: Announcement) async throws {
        _ = try await redis.send(["PUBLISH", Self.channel, String(decoding: try JSONEncoder().encode(announcement), as: UTF8.self)])
    }

    private func succeeded(_ count: (inout Statistics) -> Void) {
        let recovered = state.withLock { state in
            count(&state.statistics)
            defer { state.down = false; state.skipUntil = nil }
            return state.down
        }
        if recovered { logger.notice("shared cache: Redis answers again") }
    }

    private func failed(_ error: any Error, invalidating: Bool) {
        let (first, scheduleFlush) = state.withLock { state in
            defer {
                state.down = true
                state.skipUntil = .now + configuration.backoff
                state.statistics.failures += 1
            }
            var schedule = false
            if invalidating {
                state.mustFlush = true
                schedule = !state.flushScheduled
                state.flushScheduled = true
            }
            return (!state.down, schedule)
        }
        if first {
            logger.warning("shared cache: Redis unavailable, answering from this instance's cache", metadata: ["error": "\(error)"])
        }
        // The other instances must not wait for this one's next request to stop serving what it could
        // not invalidate: flush as soon as Redis may answer again.
        if scheduleFlush {
            Task {
                try? await Task.sleep(for: configuration.backoff)
                state.withLock { $0.flushScheduled = false }
                _ = await usable()
            }
        }
    }

    // MARK: - Encoding

    /// `<versions>\n<cost µs>\n<content type>\n<content range>\n<body>`: the body stays the database's bytes.
    static func encode(_ response: CachedResponse, versions: Versions, cost: Duration) -> String {
        let head = [versions.encoded, "\(whole(cost, perSecond: 1_000_000))", response.contentType, response.contentRange ?? ""].joined(separator: "\n")
        return head + "\n" + String(buffer: response.body)
    }

    func decode(_ stored: ByteBuffer, versions: Versions) -> (CachedResponse, Duration)? {
        var buffer = stored
        var head: [String] = []
        while head.count < 4, let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            head.append(buffer.readString(length: newline - buffer.readerIndex) ?? "")
            buffer.moveReaderIndex(forwardBy: 1)
        }
        guard head.count == 4, head[0] == versions.encoded, let micros = Int64(head[1]) else { return nil }
        let response = CachedResponse(
            status: 200, contentType: head[2], contentRange: head[3].isEmpty ? nil : head[3], body: buffer,
            gzipped: compress(buffer))
        return (response, .microseconds(micros))
    }

    static func token() -> String { UUID().uuidString }

    static func milliseconds(_ duration: Duration) -> Int64 { whole(duration, perSecond: 1000) }

    /// `duration` in whole units of which `perSecond` make a second (1000: milliseconds).
    static func whole(_ duration: Duration, perSecond: Int64) -> Int64 {
        duration.components.seconds * perSecond + duration.components.attoseconds / (1_000_000_000_000_000_000 / perSecond)
    }
}
