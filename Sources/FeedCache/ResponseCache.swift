import Foundation
import NIOCore
import Synchronization

/// An in-process cache of answers with stampede protection:
/// - **single flight**: concurrent misses for one key share one computation;
/// - **early refresh** (XFetch): a hit near expiry may start a background recomputation, with a
///   probability that grows as expiry nears and with the cost of the last computation, so hot keys
///   are renewed before they expire and never all at once;
/// - **stale on failure**: when the computation fails (or is slower than `staleIfSlowerThan`) an
///   expired answer no older than `staleLimit` past its expiry is served instead of an error;
/// - **exact invalidation** by tags; an invalidated computation still in flight is not stored;
/// - an optional **shared second level** (`SharedCache`, Redis) asked before the database; early
///   refreshes skip it, so that they renew the shared answer too.
/// Bounded by entries and bytes, least recently used first out.
public final class ResponseCache: Sendable {
    public struct Configuration: Sendable {
        public var ttl: Duration = .seconds(60)
        public var staleLimit: Duration = .seconds(300)
        public var staleIfSlowerThan: Duration = .seconds(1)
        public var maxEntries: Int = 10_000
        public var maxBytes: Int = 64 << 20
        /// XFetch's β: above 1 refreshes earlier, below 1 later.
        public var beta: Double = 1
        /// Each stored answer lives a random share of the TTL between `1 − ttlJitter` and 1, so that
        /// answers computed together (after a restart, or when many users arrive at once) do not
        /// all expire together and come back to the database in one storm.
        public var ttlJitter: Double = 0
        /// How long a home window (tag `homewindow:<viewer>`) lives unread. Fan-out on write and the
        /// follow merge keep it correct, so this is not a freshness bound but how long an idle
        /// reader's timeline is kept before it is rebuilt on their next read (Mastodon keeps those of
        /// users active in the last days); the cache's bounds evict the least recent first.
        public var windowTTL: Duration = .seconds(600)
        /// Compresses a page the cache reshaped (a new post put on a shared profile page), once, for
        /// the hits that send it gzipped; nil: sent as it is, compressed per request if asked.
        public var compress: (@Sendable (ByteBuffer) -> ByteBuffer?)?
        public init() {}
    }

    /// What happened to one request, as the observability issue records it (`meta.cache_result`).
    public enum Outcome: String, Sendable {
        case hit, miss, stale, coalesced, bypass
    }

    public struct Answer: Sendable {
        public let response: CachedResponse
        public let outcome: Outcome
        /// Time since the answer was computed.
        public let age: Duration
        /// Time left until it expires (negative when stale).
        public let timeToLive: Duration
        /// Taken from the shared level (Redis) by this request's computation: no database query.
        public var shared = false
    }

    public struct Statistics: Sendable, Equatable {
        public var hits = 0, misses = 0, stale = 0, coalesced = 0, refreshes = 0, evictions = 0, invalidations = 0
        public var entries = 0, bytes = 0
    }

    public let configuration: Configuration
    /// The second level shared by every instance, when Redis is configured.
    public let shared: SharedCache?
    /// Like counts and viewers' likes newer than the pages that show them (patched in when served).
    public let counters: LiveCounters
    /// Viewers' relations (blocks, follows, likes), dropped with the viewer's `viewer:` tag.
    public let relations: ViewerRelationsStore
    /// How long new posts take to reach the cached homes (fan-out on write), for `/metrics`.
    public let fanOutLag = FanOutLag()
    /// Where the invalidation listener's time goes.
    public let listenerWork = ListenerWork()
    /// Homes a write will change after its writer was let go (fan-out, follow merges): reads wait.
    public let homeHolds = PageHolds()
    /// Authors whose shared profile pages the profile worker has yet to put a new post on: reads wait.
    public let profileHolds = PageHolds()
    private let clock: @Sendable () -> ContinuousClock.Instant
    private let random: @Sendable () -> Double
    /// Which failures may be answered with a stale entry (the database being away or slow, not a bad request).
    private let mayServeStale: @Sendable (any Error) -> Bool
    private let state = Mutex(State())

    public init(
        _ configuration: Configuration,
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        random: @escaping @Sendable () -> Double = { Double.random(in: Double.ulpOfOne...1) },
        mayServeStale: @escaping @Sendable (any Error) -> Bool = { _ in true },
        shared: SharedCache? = nil
    ) {
        self.configuration = configuration
        self.shared = shared
        // A page may be served until its TTL and stale window have passed: keep what is newer as long.
        counters = LiveCounters(retention: max(configuration.ttl, configuration.windowTTL) + configuration.staleLimit, clock: clock)
        relations = ViewerRelationsStore(ttl: configuration.ttl, maxEntries: configuration.maxEntries, clock: clock)
        self.clock = clock
        self.random = random
        self.mayServeStale = mayServeStale
    }

    /// What a flight produced, and whether it came from the shared level.
    struct Computed: Sendable {
        let response: CachedResponse
        /// Set when the answer came from the shared level: what it had left there.
        var sharedTimeToLive: Duration?
    }

    typealias Computation = Task<Computed, any Error>

    struct Entry {
        let response: CachedResponse
        let tags: [CacheTag]
        let storedAt: ContinuousClock.Instant
        let expiresAt: ContinuousClock.Instant
        /// How long the computation took: XFetch's Δ.
        let cost: Duration
        /// Which stored answer this is (a push replaces an entry only if it is still the one it read).
        let version: Int
        /// The version counter when its computation started (kept when a push or merge replaces it):
        /// it read the database after every write announced before `mark()` said more than this.
        let basis: Int
        var size: Int { response.body.readableBytes + (response.gzipped?.readableBytes ?? 0) + 256 }
    }

    struct Flight {
        let id: Int
        let tags: [CacheTag]
        let task: Computation
        /// The version counter when it started (see `Entry.basis`).
        let basis: Int
        /// Rows pushed onto this first page of a home while it was being computed: put in their
        /// places when it completes, for everyone waiting on it too (it may have read from before them).
        var pending: [String] = []
    }

    struct State {
        var entries: [String: Entry] = [:]
        var recency = LRUList<String>()
        var bytes = 0
        /// kind → id → keys, for invalidation and for "whose home feeds are cached".
        var tagIndex: [String: [String: Set<String>]] = [:]
        var flights: [String: Flight] = [:]
        var nextFlight = 0
        var nextVersion = 0
        var statistics = Statistics()
    }

    /// The answer for `key`: cached, shared with a computation in flight, or computed by `compute`.
    /// `tags` (what the answer depends on) are worked out only when it has to be computed.
    public func fetch(
        _ key: String, tags: () -> [CacheTag], compute: @escaping @Sendable () async throws -> CachedResponse
    ) async throws -> Answer {
        let now = clock()
        if let entry = state.withLock({ hit(key, now: now, compute: compute, in: &$0) }) {
            return answer(entry, .hit, now: now)
        }
        let tags = tags()
        enum Plan {
            case hit(Entry)
            case wait(Computation, stale: Entry?, joined: Bool)
        }
        let plan: Plan = state.withLock { state in
            // Another request may have stored it meanwhile.
            if let entry = hit(key, now: now, compute: compute, in: &state) { return .hit(entry) }
            let stale = state.entries[key].flatMap { now - $0.expiresAt <= configuration.staleLimit ? $0 : nil }
            if let flight = state.flights[key] {
                state.statistics.coalesced += 1
                return .wait(flight.task, stale: stale, joined: true)
            }
            state.statistics.misses += 1
            return .wait(startFlight(key, tags: tags, compute: compute, in: &state), stale: stale, joined: false)
        }
        switch plan {
        case .hit(let entry):
            return answer(entry, .hit, now: now)
        case .wait(let computation, let stale, let joined):
            do {
                let computed = try await value(of: computation, orStaleAfter: stale == nil ? nil : configuration.staleIfSlowerThan)
                let finished = clock()
                if let left = computed.sharedTimeToLive {
                    return Answer(
                        response: computed.response, outcome: joined ? .coalesced : .miss, age: configuration.ttl - left,
                        timeToLive: left, shared: true)
                }
                return Answer(
                    response: computed.response, outcome: joined ? .coalesced : .miss, age: .zero,
                    timeToLive: configuration.ttl - (finished - now))
            } catch {
                guard let stale, error is SlowComputation || mayServeStale(error) else { throw error }
                state.withLock { $0.statistics.stale += 1 }
                return answer(stale, .stale, now: clock())
            }
        }
    }

    public func fetch(
        _ key: String, tags: [CacheTag], compute: @escaping @Sendable () async throws -> CachedResponse
    ) async throws -> Answer {
        try await fetch(key, tags: { tags }, compute: compute)
    }

    /// Computes the answer for `key` ahead of its first reader (a home window when its user signs
    /// in), as `fetch` would, unless it is cached and fresh or already being computed. No request
    /// asked for it: neither a hit nor a miss is counted. Answers whether it was computed here.
    @discardableResult
    public func prepare(
        _ key: String, tags: [CacheTag], compute: @escaping @Sendable () async throws -> CachedResponse
    ) async throws -> Bool {
        let now = clock()
        let computation: Computation? = state.withLock { state in
            if let entry = state.entries[key], now < entry.expiresAt { return nil }
            guard state.flights[key] == nil else { return nil }
            return startFlight(key, tags: tags, compute: compute, in: &state)
        }
        guard let computation else { return false }
        _ = try await value(of: computation, orStaleAfter: nil)
        return true
    }

    /// Drops every answer carrying one of `tags`, and keeps computations in flight for them from being stored.
    public func invalidate(_ tags: some Sequence<CacheTag>) {
        invalidate(tags, sparingWindows: false)
    }

    /// `invalidate`; with `sparingWindows`, the home windows of the viewers named stay (a follow's
    /// merge corrects them) while their computations in flight are still abandoned.
    private func invalidate(_ tags: some Sequence<CacheTag>, sparingWindows: Bool, sparingRelations: Bool = false) {
        // A viewer's follows or blocks changed: so may their relations.
        if !sparingRelations {
            for tag in tags where tag.kind == "viewer" { relations.forget(tag.id) }
        }
        state.withLock { state in
            var keys = Set<String>()
            var touched = Set<CacheTag>()
            for tag in tags where touched.insert(tag).inserted {
                keys.formUnion(state.tagIndex[tag.kind]?[tag.id] ?? [])
                if sparingWindows, tag.kind == "viewer" { keys.subtract(state.tagIndex[Self.homeWindowKind]?[tag.id] ?? []) }
            }
            for (key, flight) in state.flights where flight.tags.contains(where: touched.contains) {
                state.flights[key] = nil
            }
            for key in keys { remove(key, in: &state) }
            state.statistics.invalidations += keys.count
        }
    }

    /// Fan-out on write into cached pages: puts `row` (a new post, as this viewer's home shows it)
    /// in its place on every cached first page of `viewer`'s home (tag `hometop:<viewer>/<limit>`),
    /// cut back to its limit (`FeedPageSlots.inserting`: on top, or lower when its transaction began
    /// before rows already shown; a page that already holds it, or is full of newer rows, is left
    /// as it is). A page it cannot be placed on is dropped instead. A first page being computed gets
    /// the row when it completes; the viewer's other computations in flight are abandoned (they may
    /// have read from before the post). The viewer's other home pages (a cursor page, one asked with `select` or a range)
    /// are dropped: the post may belong on them too (a transaction that began earlier commits its
    /// post with an older `created_at`). Answers the number of pages changed and dropped.
    ///
    /// `mark`: when the post's announcement arrived (`mark()`), for a push applied later, after
    /// other writes' invalidations: pages and computations that started after it read the database
    /// after the post was committed (they hold it if they should, and may have dropped it since, for a
    /// block or a deletion announced after it) and are left as they are.
    @discardableResult
    public func push(_ row: String, toHomeOf viewer: String, since mark: Int? = nil) -> (pushed: Int, dropped: Int) {
        let prefix = viewer + "/"
        // Under the lock: what to change (and what to drop), found from the viewer's own pages. The
        // new pages are made outside it: a post of a popular author goes onto hundreds of windows,
        // and every request's lookup waits for this lock.
        let (targets, dropped): ([(key: String, entry: Entry)], Int) = state.withLock { state in
            var targets: [(key: String, entry: Entry)] = []
            var others: [String] = []
            for (key, flight) in state.flights where flight.tags.contains(.home(viewer)) {
                if let mark, flight.basis >= mark { continue }
                if flight.tags.contains(where: { $0.kind == Self.homeTopKind && $0.id.hasPrefix(prefix) }) {
                    // A window or first page being computed: it gets the row when it completes (abandoning
                    // it instead let the fan-out of a popular author's posts keep windows from ever landing).
                    state.flights[key]?.pending.append(row)
                } else {
                    state.flights[key] = nil
                }
            }
            for key in state.tagIndex["home"]?[viewer] ?? [] {
                guard let entry = state.entries[key] else { continue }
                if let mark, entry.basis >= mark { continue }
                if entry.tags.contains(where: { $0.kind == Self.homeTopKind && $0.id.hasPrefix(prefix) }) {
                    targets.append((key, entry))
                } else {
                    others.append(key)
                }
            }
            for key in others { remove(key, in: &state) }
            return (targets, others.count)
        }
        return reshape(targets, dropped: dropped) { entry in
            guard let (page, changed) = Self.inserting([row], into: entry.response, tags: entry.tags) else { return .some(nil) }
            return changed ? page : nil
        }
    }

    /// Pages taken from the cache to be reshaped outside its lock (`reshaping`: the new response,
    /// `.some(nil)` to drop the page, nil to leave it), then put back — each only if it is still the
    /// version read (replaced or dropped meanwhile, what is there now was computed after the write
    /// that reshapes it, or nothing is). `dropped`: pages already dropped. Answers how many changed and went.
    private func reshape(
        _ targets: [(key: String, entry: Entry)], dropped: Int, reshaping: (Entry) -> CachedResponse??
    ) -> (pushed: Int, dropped: Int) {
        let replacements = targets.compactMap { target in reshaping(target.entry).map { (target.key, target.entry, $0) } }
        return state.withLock { state in
            var pushed = 0, dropped = dropped
            for (key, old, new) in replacements {
                guard let entry = state.entries[key], entry.version == old.version else { continue }
                guard let new else {
                    remove(key, in: &state)
                    state.statistics.invalidations += 1
                    dropped += 1
                    continue
                }
                replace(key, entry, with: new, in: &state)
                pushed += 1
            }
            return (pushed, dropped)
        }
    }

    /// The tag kind of the shared first pages of a profile a new post goes onto:
    /// `profiletop:<profile>/<view>/<limit>`, the view `anon` or `followers` (`ProfilePost.View`).
    public static let profileTopKind = "profiletop"

    /// What a new post of `author` drops at once, before its writer is let go: their profile pages
    /// other than the shared first pages (a cursor page, a viewer's own — the author's among them —,
    /// a page of the viewers who see the same posts) and every computation of their profile pages,
    /// from before `mark`; the shared first pages wait for the post (`push(_:toProfileOf:)`), held.
    /// Answers the shared first pages kept, and how many pages went.
    @discardableResult
    func dropProfile(of author: String, keepingFirstPagesBefore mark: Int) -> (kept: [(key: String, entry: Entry)], dropped: Int) {
        state.withLock { state in
            for (key, flight) in state.flights where flight.basis < mark && flight.tags.contains(.profile(author)) {
                state.flights[key] = nil
            }
            var kept: [(key: String, entry: Entry)] = [], others: [String] = []
            for key in state.tagIndex["profile"]?[author] ?? [] {
                guard let entry = state.entries[key], entry.basis < mark else { continue }
                if Self.profileTop(entry.tags) != nil { kept.append((key, entry)) } else { others.append(key) }
            }
            for key in others { remove(key, in: &state) }
            state.statistics.invalidations += others.count
            return (kept, others.count)
        }
    }

    /// Puts a new post of `author` on their cached first profile pages as anon and as the followers
    /// see it (`ProfilePost.applied`), instead of dropping them (a page it cannot be placed on is
    /// dropped); the author's other pages from before the post go too (`dropProfile`). Pages and
    /// computations started after the post's mark read the database after it and are left as they
    /// are. Answers the pages changed and dropped.
    @discardableResult
    public func push(_ post: ProfilePost, toProfileOf author: String) -> (pushed: Int, dropped: Int) {
        let (targets, dropped) = dropProfile(of: author, keepingFirstPagesBefore: post.mark)
        return reshape(targets, dropped: dropped) { entry in
            guard let (view, limit) = Self.profileTop(entry.tags) else { return .some(nil) }
            switch post.applied(to: entry.response, view: view, limit: limit) {
            case .changed(var page):
                if page.gzipped == nil, entry.response.gzipped != nil, let compress = configuration.compress {
                    page = CachedResponse(page, gzipped: compress(page.body))
                }
                return page
            case .unchanged: return nil
            case .refused: return .some(nil)
            }
        }
    }

    /// The view and limit a `profiletop:<profile>/<view>/<limit>` tag among `tags` names.
    static func profileTop(_ tags: [CacheTag]) -> (view: ProfilePost.View, limit: Int)? {
        guard let parts = tags.first(where: { $0.kind == profileTopKind })?.id.split(separator: "/"), parts.count == 3,
            let view = ProfilePost.View(rawValue: String(parts[1])), let limit = Int(parts[2])
        else { return nil }
        return (view, limit)
    }

    /// The tag kind of a viewer's home window (`homewindow:<viewer>`), which a follow merges into.
    public static let homeWindowKind = "homewindow"

    /// A cached home window as a follow's merge needs it: which entry (and version), the cursor of
    /// its last row when it does not hold the whole feed, its posts, and its limit.
    public struct WindowBounds: Sendable {
        public let key: String
        let version: Int
        public let below: String?
        public let ids: [String]
        public let limit: Int
    }

    /// The viewer's cached home windows (one per content type asked).
    public func homeWindows(of viewer: String) -> [WindowBounds] {
        state.withLock { state in
            (state.tagIndex[Self.homeWindowKind]?[viewer] ?? []).compactMap { key -> WindowBounds? in
                guard let entry = state.entries[key], let slots = entry.response.pageSlots, let limit = Self.homeTopLimit(entry.tags)
                else { return nil }
                let whole = !entry.response.incomplete && slots.rows.count < limit
                return WindowBounds(
                    key: key, version: entry.version, below: whole ? nil : slots.rows.last?.cursor, ids: slots.rows.map(\.id), limit: limit)
            }
        }
    }

    /// A follow or unfollow, before its merge: drops what else the viewer sees (their pages computed
    /// under their role, their relations) and abandons their computations in flight (they may have
    /// read from before it), but keeps the home windows, which `merge` corrects.
    /// `keepingRelations`: the caller corrects the relations in place (`ViewerRelationsStore.recordFollow`).
    public func invalidate(viewerKeepingWindows viewer: String, keepingRelations: Bool = false) {
        invalidate([.viewer(viewer)], sparingWindows: true, sparingRelations: keepingRelations)
    }

    /// Puts a follow's changed rows (post id → its row in the viewer's home now, nil when it left)
    /// into the window `bounds` describes, if it is still the entry they were read from (one stored
    /// since was computed after the follow). A window that lost rows is marked incomplete; one that
    /// cannot be merged is dropped. Answers whether the window was kept.
    @discardableResult
    public func merge(_ changes: [String: String?], into bounds: WindowBounds) -> Bool {
        guard let entry = state.withLock({ $0.entries[bounds.key] }), entry.version == bounds.version else { return true }
        let merged = entry.response.pageSlots?.merging(changes, limit: bounds.limit, onto: entry.response.body)
        return state.withLock { state in
            guard let current = state.entries[bounds.key], current.version == bounds.version else { return true }
            var response = merged.map { CachedResponse(body: $0.body, slots: $0.slots, of: current.response) }
            // Rows taken out of a window that did not hold the whole feed: the rows below it are unknown.
            response?.incomplete = current.response.incomplete || (bounds.below != nil && (merged?.slots.rows.count ?? 0) < bounds.limit)
            // Not mergeable, or emptied so (no last row left to say how far down it holds the feed): dropped.
            guard let response, !(response.incomplete && merged?.slots.rows.isEmpty == true) else {
                remove(bounds.key, in: &state)
                state.statistics.invalidations += 1
                return false
            }
            replace(bounds.key, current, with: response, in: &state)
            return true
        }
    }

    /// `entry` (stored under `key`) with a new response, its tags and lifetime kept, as a new version.
    private func replace(_ key: String, _ entry: Entry, with response: CachedResponse, in state: inout State) {
        let replaced = Entry(
            response: response, tags: entry.tags, storedAt: entry.storedAt, expiresAt: entry.expiresAt, cost: entry.cost,
            version: nextVersion(&state), basis: entry.basis)
        state.bytes += replaced.size - entry.size
        state.entries[key] = replaced
    }

    /// A read of a page `holds` holds under `key` (a viewer's home, an author's profile) waits for the
    /// worker that owns it (home or profile), as the writer would have; should that run out, pages tagged `tag` from before a
    /// post on its way are not used (`drop(_:before:)`, counted), and the database answers.
    public func awaitHold(_ holds: PageHolds, of key: String, dropping tag: CacheTag) async {
        guard holds.isHeld(key) else { return }
        await holds.wait(for: key)
        if let mark = holds.mark(of: key), drop(tag, before: mark) { holds.countReadPastHold() }
    }

    /// Before a read of a held page (`PageHolds`) whose wait ran out: drops the pages tagged `tag` (a
    /// viewer's home, an author's profile), and abandons their computations, that started before the
    /// hold's mark — they may lack the write a worker has yet to apply — so that the read
    /// computes the page anew (after the write). Pages computed since are kept. Answers whether
    /// anything was dropped.
    @discardableResult
    public func drop(_ tag: CacheTag, before mark: Int) -> Bool {
        state.withLock { state -> Bool in
            var dropped = false
            for (key, flight) in state.flights where flight.basis < mark && flight.tags.contains(tag) {
                state.flights[key] = nil
                dropped = true
            }
            for key in state.tagIndex[tag.kind]?[tag.id] ?? [] {
                guard let entry = state.entries[key], entry.basis < mark else { continue }
                remove(key, in: &state)
                state.statistics.invalidations += 1
                dropped = true
            }
            return dropped
        }
    }

    /// A point in the cache's history, taken once announced writes arrived: computations started
    /// after it read the database after those writes (`push(_:toHomeOf:since:)` leaves them alone).
    public func mark() -> Int { state.withLock { nextVersion(&$0) } }

    private func nextVersion(_ state: inout State) -> Int {
        state.nextVersion += 1
        return state.nextVersion
    }

    /// The tag kind of plain first pages of a home feed, with their limit: `hometop:<viewer>/<limit>`.
    public static let homeTopKind = "hometop"

    /// The limit a `hometop:<viewer>/<limit>` tag among `tags` names.
    static func homeTopLimit(_ tags: [CacheTag]) -> Int? {
        tags.first { $0.kind == homeTopKind }?.id.split(separator: "/").last.flatMap { Int($0) }
    }

    /// Drops every answer with a tag of `kind` (e.g. all entity feeds after an entity was renamed).
    public func invalidate(kind: String) {
        let ids = state.withLock { Array(($0.tagIndex[kind] ?? [:]).keys) + $0.flights.values.flatMap(\.tags).filter { $0.kind == kind }.map(\.id) }
        invalidate(ids.map { CacheTag(kind, $0) })
    }

    /// Drops everything (e.g. after the invalidation listener lost its connection and may have missed events).
    public func invalidateAll() {
        relations.forgetAll()
        state.withLock { state in
            state.statistics.invalidations += state.entries.count
            state.entries.removeAll()
            state.recency.removeAll()
            state.tagIndex.removeAll()
            state.flights.removeAll()
            state.bytes = 0
        }
    }

    /// The ids of a tag kind that cached or in-flight answers depend on (e.g. whose home feeds are
    /// cached), as a list, without building a set (an id with several answers, or in flight, may be
    /// listed more than once): for a pass over them.
    public func idList(ofKind kind: String) -> [String] {
        state.withLock { state in
            var ids = Array((state.tagIndex[kind] ?? [:]).keys)
            for flight in state.flights.values { for tag in flight.tags where tag.kind == kind { ids.append(tag.id) } }
            return ids
        }
    }

    /// The same ids as a set.
    public func ids(ofKind kind: String) -> Set<String> { Set(idList(ofKind: kind)) }

    /// Which of `ids` a cached or in-flight answer depends on through a tag of `kind` (which of a
    /// post's followers have a home cached): one pass under the lock over these ids, not a copy of
    /// every id of the kind — on the listener's path, where a millisecond of CPU is several of every
    /// writer's wait (a set of all ~3,000 cached profile pages' subjects built per batch doubled it).
    public func ids(ofKind kind: String, among ids: Set<String>) -> Set<String> {
        guard !ids.isEmpty else { return [] }
        return state.withLock { state in
            var found = Set<String>()
            if let index = state.tagIndex[kind] {
                for id in ids where index[id] != nil { found.insert(id) }
            }
            for flight in state.flights.values {
                for tag in flight.tags where tag.kind == kind && ids.contains(tag.id) { found.insert(tag.id) }
            }
            return found
        }
    }

    public var statistics: Statistics {
        state.withLock { state in
            var statistics = state.statistics
            statistics.entries = state.entries.count
            statistics.bytes = state.bytes
            return statistics
        }
    }

    // MARK: - Inside the lock

    /// A fresh entry for `key`, counted as a hit; may start its early refresh (XFetch).
    private func hit(
        _ key: String, now: ContinuousClock.Instant, compute: @escaping @Sendable () async throws -> CachedResponse, in state: inout State
    ) -> Entry? {
        guard let entry = state.entries[key], now < entry.expiresAt else { return nil }
        state.recency.touch(key)
        state.statistics.hits += 1
        if state.flights[key] == nil, shouldRefreshEarly(entry, now: now) {
            state.statistics.refreshes += 1
            startFlight(key, tags: entry.tags, refresh: true, compute: compute, in: &state)
        }
        return entry
    }

    @discardableResult
    private func startFlight(
        _ key: String, tags: [CacheTag], refresh: Bool = false, compute: @escaping @Sendable () async throws -> CachedResponse,
        in state: inout State
    ) -> Computation {
        state.nextFlight += 1
        let id = state.nextFlight
        // The computation stores its own result, so it lands even when the request that started it is gone.
        let task = Computation {
            let started = self.clock()
            do {
                var versions: SharedCache.Versions?
                if let shared = self.shared {
                    switch await shared.lookup(key, tags: tags, homeOf: tags.first { $0.kind == "home" }?.id) {
                    case .hit(let response, let timeToLive, let cost, let current):
                        versions = current
                        if !refresh {
                            let stored = self.complete(key, flight: id, response: response, tags: tags, cost: cost, timeToLive: timeToLive)
                            return Computed(response: stored, sharedTimeToLive: min(configuration.ttl, timeToLive))
                        }
                    case .miss(let current): versions = current
                    case .unavailable: break
                    }
                }
                let response = try await compute()
                let cost = self.clock() - started
                if let shared = self.shared, let versions { await shared.store(key, response, versions: versions, cost: cost) }
                return Computed(response: self.complete(key, flight: id, response: response, tags: tags, cost: cost))
            } catch {
                self.state.withLock { state in
                    if state.flights[key]?.id == id { state.flights[key] = nil }
                }
                throw error
            }
        }
        state.flights[key] = Flight(id: id, tags: tags, task: task, basis: state.nextVersion)
        return task
    }

    /// Stores a computed answer (with the rows pushed meanwhile put in) unless its flight was
    /// abandoned; answers what the waiting requests get.
    private func complete(
        _ key: String, flight: Int, response computed: CachedResponse, tags: [CacheTag], cost: Duration, timeToLive: Duration? = nil
    ) -> CachedResponse {
        state.withLock { state in
            // Invalidated (or superseded) while computing: the answer may predate the write.
            guard let current = state.flights[key], current.id == flight else { return computed }
            state.flights[key] = nil
            guard let response = Self.inserting(current.pending, into: computed, tags: tags)?.response else { return computed }
            remove(key, in: &state)
            let now = clock()
            // A shared answer keeps its age (for `Age`) and lives no longer here than in Redis.
            let ttl = tags.contains { $0.kind == Self.homeWindowKind } ? configuration.windowTTL : configuration.ttl
            let lifetime = configuration.ttlJitter > 0 ? ttl * (1 - configuration.ttlJitter * random()) : ttl
            let left = min(lifetime, timeToLive ?? lifetime)
            let entry = Entry(
                response: response, tags: tags, storedAt: now - (ttl - left), expiresAt: now + left, cost: cost,
                version: nextVersion(&state), basis: current.basis)
            guard entry.size <= configuration.maxBytes else { return response }
            state.entries[key] = entry
            state.recency.touch(key)
            state.bytes += entry.size
            for tag in tags { state.tagIndex[tag.kind, default: [:]][tag.id, default: []].insert(key) }
            while state.entries.count > configuration.maxEntries || state.bytes > configuration.maxBytes,
                  let oldest = state.recency.leastRecent
            {
                remove(oldest, in: &state)
                state.statistics.evictions += 1
            }
            return response
        }
    }

    /// `response` (a first page of a home, tagged `hometop:<viewer>/<limit>`) with `rows` put in
    /// their places; nil when one cannot be placed (the page is then not stored).
    static func inserting(_ rows: [String], into response: CachedResponse, tags: [CacheTag]) -> (response: CachedResponse, changed: Bool)? {
        guard !rows.isEmpty else { return (response, false) }
        guard let limit = homeTopLimit(tags) else { return nil }
        var page = response, changed = false
        for row in rows {
            switch page.pageSlots?.inserting(row, limit: limit, onto: page.body) ?? .refused {
            case .changed(let body, let slots):
                // Compressed when served, if asked for: a window is only ever served in slices.
                page = CachedResponse(body: body, slots: slots, of: response)
                changed = true
            case .unchanged: continue
            case .refused: return nil
            }
        }
        return (page, changed)
    }

    private func remove(_ key: String, in state: inout State) {
        guard let entry = state.entries.removeValue(forKey: key) else { return }
        state.recency.remove(key)
        state.bytes -= entry.size
        for tag in entry.tags {
            state.tagIndex[tag.kind]?[tag.id]?.remove(key)
            if state.tagIndex[tag.kind]?[tag.id]?.isEmpty == true { state.tagIndex[tag.kind]?[tag.id] = nil }
        }
    }

    /// XFetch: recompute early when `now − Δ·β·ln(rand) ≥ expiry`.
    private func shouldRefreshEarly(_ entry: Entry, now: ContinuousClock.Instant) -> Bool {
        let cost = Double(entry.cost.components.seconds) + Double(entry.cost.components.attoseconds) / 1e18
        let lead = -cost * configuration.beta * log(random())
        return now + .seconds(lead) >= entry.expiresAt
    }

    // MARK: - Outside the lock

    private func answer(_ entry: Entry, _ outcome: Outcome, now: ContinuousClock.Instant) -> Answer {
        Answer(response: entry.response, outcome: outcome, age: now - entry.storedAt, timeToLive: entry.expiresAt - now)
    }

    struct SlowComputation: Error {}

    /// The computation's value; with a limit, stops waiting after it (the computation goes on and
    /// stores its result). Awaiting a task's value ignores cancellation, hence the race by hand.
    private func value(of computation: Computation, orStaleAfter limit: Duration?) async throws -> Computed {
        guard let limit else { return try await computation.value }
        return try await withCheckedThrowingContinuation { continuation in
            let first = FirstResult(continuation)
            Task { first.resume(await computation.result) }
            Task {
                try? await Task.sleep(for: limit)
                first.resume(.failure(SlowComputation()))
            }
        }
    }
}

/// Resumes a continuation with whichever result arrives first.
private final class FirstResult: Sendable {
    private let continuation: Mutex<CheckedContinuation<ResponseCache.Computed, any Error>?>

    init(_ continuation: CheckedContinuation<ResponseCache.Computed, any Error>) {
        self.continuation = Mutex(continuation)
    }

    func resume(_ result: Result<ResponseCache.Computed, any Error>) {
        continuation.withLock { waiting in
            waiting?.resume(with: result)
            waiting = nil
        }
    }
}
