import Prometheus
import Synchronization

/// Every metric FeedFusion serves on `/metrics`, in one registry per server.
///
/// Per-request metrics are recorded as requests finish; gauges that describe state (the pool, the
/// cache's size, the queues, the process) are read when a scrape asks (`collect`).
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    /// Request counters and histograms by route template, method and status (status only on the counter,
    /// so that the histogram's series stay few).
    private struct RouteKey: Hashable { let route: String, method: String, status: Int }
    private let routes = Mutex<[RouteKey: (Counter, DurationHistogram)]>([:])
    private let cacheResults = Mutex<[String: Counter]>([:])
    private let cachedRouteAnswers = Mutex<[String: Counter]>([:])
    private let rateLimited = Mutex<[String: Counter]>([:])
    private let clientMetrics = Mutex<[String: ValueHistogram]>([:])
    /// Client metric names accepted as series; beyond this, new names are folded into `other`.
    public static let maxClientMetricNames = 100
    /// The last totals read from counters kept elsewhere (queues, the shared cache), by series.
    private let lastTotals = Mutex<[String: Int]>([:])

    private let databaseTime: DurationHistogram

    static let latencyBuckets: [Duration] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000].map { .milliseconds($0) }

    public init() {
        databaseTime = registry.makeDurationHistogram(
            descriptor: Self.name("db_query_duration", "seconds", "Time a request spent in its database transaction"),
            buckets: Self.latencyBuckets)
    }

    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "feedfusion", metricName: metric, unitName: unit, helpText: help)
    }

    /// A finished HTTP request.
    public func request(route: String, method: String, status: Int, duration: Duration, databaseTime: Duration?) {
        let key = RouteKey(route: route, method: method, status: status)
        let (counter, histogram) = routes.withLock { routes in
            if let found = routes[key] { return found }
            let made = (
                registry.makeCounter(
                    descriptor: Self.name("http_requests", "total", "HTTP requests by route template, method and status"),
                    labels: [("route", route), ("method", method), ("status", String(status))]),
                registry.makeDurationHistogram(
                    descriptor: Self.name("http_request_duration", "seconds", "HTTP request latency by route template and method"),
                    labels: [("route", route), ("method", method)], buckets: Self.latencyBuckets)
            )
            routes[key] = made
            return made
        }
        counter.increment()
        histogram.record(duration)
        if let databaseTime { self.databaseTime.record(databaseTime) }
    }

    /// What the answer cache did for one request: hit, miss, stale, coalesced or bypass; and
    /// whether the answer needed a database round trip of its own or a shared one it waited for
    /// (`database="queried"`: miss, coalesced, bypass) or none (`database="none"`: a hit in memory or
    /// Redis, or a stale answer) — the share the feed read path is judged by.
    public func cacheResult(_ result: String) {
        labelled(cacheResults, result) {
            registry.makeCounter(
                descriptor: Self.name("cache_requests", "total", "Cached-route requests by cache result"), labels: [("result", $0)])
        }.increment()
        let database = result == "hit" || result == "stale" ? "none" : "queried"
        labelled(cachedRouteAnswers, database) {
            registry.makeCounter(
                descriptor: Self.name("cached_route_answers", "total", "Cached-route answers by whether they needed a database round trip"),
                labels: [("database", $0)])
        }.increment()
    }

    /// A request refused by the rate limiter of `policy`.
    public func rateLimited(policy: String) {
        labelled(rateLimited, policy) {
            registry.makeCounter(
                descriptor: Self.name("rate_limited_requests", "total", "Requests refused with 429 by rate-limit policy"),
                labels: [("policy", $0)])
        }.increment()
    }

    /// Measurements clients sent through `track_metrics`, as one histogram per name.
    public func clientMetric(name: String, unit: String, value: Double) {
        let histogram = clientMetrics.withLock { histograms -> ValueHistogram in
            let series = histograms[name] != nil || histograms.count < Self.maxClientMetricNames ? name : "other"
            if let found = histograms[series] { return found }
            let made = registry.makeValueHistogram(
                descriptor: Self.name("client_metric", "", "Measurements reported by clients (track_metrics), by name"),
                labels: [("name", series), ("unit", unit)], buckets: Self.clientBuckets(unit))
            histograms[series] = made
            return made
        }
        histogram.record(value)
    }

    static func clientBuckets(_ unit: String) -> [Double] {
        switch unit {
        case "ms": [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000]
        case "s": [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
        case "percent": [1, 5, 10, 25, 50, 75, 90, 95, 99, 100]
        case "ratio": [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1]
        default: [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000]
        }
    }

    private func labelled(_ table: borrowing Mutex<[String: Counter]>, _ label: String, make: (String) -> Counter) -> Counter {
        table.withLock { counters in
            if let found = counters[label] { return found }
            let made = make(label)
            counters[label] = made
            return made
        }
    }

    // MARK: State read at scrape time

    /// The state gauges, set just before a scrape is answered.
    public struct Snapshot: Sendable {
        public var poolSize = 0
        public var poolInUse = 0
        public var poolWaiting = 0
        public var poolIdle: Int?
        /// Every connection this process holds open to the database (both pools, the listeners), as
        /// the server counts them: in use and idle are counted apart, and a listener's connection is both.
        public var databaseConnections: Int?
        public var cacheEntries = 0
        public var cacheBytes = 0
        /// Answers pushed out to stay within the cache's bounds, and dropped by writes, since start.
        public var cacheEvictions = 0
        public var cacheInvalidations = 0
        public var queues: [(name: String, counts: TelemetryCounts)] = []
        public var redisUp: Bool?
        /// The Redis cache level's running totals (`hit`, `miss`, `store`, `failure`, `flush`), when configured.
        public var sharedCacheOperations: [String: Int] = [:]
        /// How writers' waits for the cache listener ended (`passed`, `timed_out`, `released`), when the cache is on.
        public var writeFenceOutcomes: [String: Int] = [:]
        /// Home windows asked for when sessions started (`built`, `cached`, `dropped`, `failed`), when that is on.
        public var homeWindowsPrepared: [String: Int] = [:]
        /// Shared first pages computed at start (`built`, `cached`, `failed`), when that is on.
        public var sharedPagesPrimed: [String: Int] = [:]
        /// Posts fanned out onto cached homes so far, and the recent lag quantiles in seconds, when the cache is on.
        public var homeFanOut: (posts: Int, quantiles: [(String, Double)])?
        /// Recent quantiles (seconds) of writers' waits for the cache listener, when the cache is on.
        public var writeFenceWaits: [(String, Double)] = []
        /// The cache listener's batches so far and its busy seconds by stage (`invalidate`, `merge`, `push`).
        public var listenerWork: (batches: Int, busy: [(stage: String, seconds: Double)])?
        /// Shared first profile pages new posts were put on (`pushed`) or dropped from (`dropped`).
        public var profilePages: [String: Int] = [:]
        /// Cached homes checked for following a new post's author: by kept relations or by the database.
        public var homeAudience: [String: Int] = [:]
        /// Reads of a held home: `waited` for the home worker, `timed_out` after 1 s, and of those
        /// `past_post` (the page predated a post on its way: read from the database).
        public var homeHolds: [String: Int] = [:]
        /// The same for reads of a profile's shared first page held for a new post.
        public var profileHolds: [String: Int] = [:]
        /// `/realtime/v1`: connections and channels open now, and running totals.
        public var realtime: Realtime?
        /// Read replicas: each one's lag in seconds (nil: down), and where reads went since start.
        public var replicas: (lags: [(name: String, seconds: Double?)], replicaReads: Int, primaryReads: Int)?
        public var process = ProcessMetrics.read()
        public init() {}
    }

    public struct Realtime: Sendable {
        public var connections = 0
        public var channels = 0
        public var messagesSent = 0
        public var slowConsumersClosed = 0
        public var changesDelivered = 0
        public var changesRead = 0
        public init() {}
    }

    public func collect(_ snapshot: Snapshot) {
        /// A counter kept elsewhere as a running total: it moves by what changed since the last scrape.
        func counter(_ metric: String, _ help: String, _ label: (String, String), total: Int) {
            let delta = lastTotals.withLock { totals in
                defer { totals["\(metric)|\(label.1)"] = total }
                return total - (totals["\(metric)|\(label.1)"] ?? 0)
            }
            registry.makeCounter(descriptor: Self.name(metric, "total", help), labels: [label]).increment(by: Int64(max(0, delta)))
        }
        func gauge(_ metric: String, _ unit: String, _ help: String, _ value: Double, _ labels: [(String, String)] = []) {
            registry.makeGauge(descriptor: Self.name(metric, unit, help), labels: labels).set(value)
        }
        /// Running totals by outcome: one `outcome` label each.
        func outcomes(_ metric: String, _ help: String, _ totals: [String: Int]) {
            for (outcome, total) in totals.sorted(by: { $0.key < $1.key }) { counter(metric, help, ("outcome", outcome), total: total) }
        }
        let pool = "Database pool connections by state"
        gauge("db_pool_connections", "", pool, Double(snapshot.poolInUse), [("state", "in_use")])
        gauge("db_pool_connections", "", pool, Double(snapshot.poolWaiting), [("state", "waiting")])
        if let idle = snapshot.poolIdle { gauge("db_pool_connections", "", pool, Double(idle), [("state", "idle")]) }
        if let open = snapshot.databaseConnections {
            gauge("db_connections", "", "Connections this process holds open to the database (every pool and listener), from pg_stat_activity",
                  Double(open))
        }
        gauge("db_pool_size", "", "Database pool size (most connections it opens)", Double(snapshot.poolSize))
        gauge("cache_entries", "", "Answers held by the in-process cache", Double(snapshot.cacheEntries))
        gauge("cache", "bytes", "Bytes held by the in-process cache", Double(snapshot.cacheBytes))
        // Evictions mean the cache is too small for its working set (CACHE_MAX_MB, CACHE_MAX_ENTRIES).
        counter("cache_evictions", "Answers evicted to keep the in-process cache within its bounds", ("cache", "memory"), total: snapshot.cacheEvictions)
        counter("cache_invalidations", "Answers dropped from the in-process cache by writes", ("cache", "memory"), total: snapshot.cacheInvalidations)
        for (name, counts) in snapshot.queues {
            gauge("telemetry_queue_depth", "", "Telemetry rows waiting to be written", Double(counts.depth), [("queue", name)])
            counter("telemetry_written", "Telemetry rows written", ("queue", name), total: counts.written)
            counter("telemetry_dropped", "Telemetry rows dropped because the queue was full", ("queue", name), total: counts.dropped)
        }
        if let replicas = snapshot.replicas {
            for (name, seconds) in replicas.lags {
                gauge("replica_up", "", "Whether a read replica answered its last position check (1) or not (0)", seconds == nil ? 0 : 1, [("replica", name)])
                if let seconds {
                    gauge("replica_lag", "seconds", "How long the primary has been ahead of a read replica's replay position", seconds, [("replica", name)])
                }
            }
            counter("read_routing", "Read-only requests by where they ran (a replica, or the primary when none was fresh enough)",
                    ("target", "replica"), total: replicas.replicaReads)
            counter("read_routing", "Read-only requests by where they ran (a replica, or the primary when none was fresh enough)",
                    ("target", "primary"), total: replicas.primaryReads)
        }
        if let up = snapshot.redisUp { gauge("redis_up", "", "Whether Redis answered a PING (1) or not (0)", up ? 1 : 0) }
        outcomes("cache_shared_operations", "Second-level (Redis) cache operations by outcome", snapshot.sharedCacheOperations)
        outcomes("write_fences", "Writes that waited for the cache listener (read-your-writes), by how the wait ended", snapshot.writeFenceOutcomes)
        outcomes("home_windows_prepared", "Home windows asked for when a session started, by outcome (built, already cached, queue full, failed)", snapshot.homeWindowsPrepared)
        outcomes("shared_pages_primed", "Most-followed profiles' and entities' first pages computed at start, by outcome (built, already cached, failed)", snapshot.sharedPagesPrimed)
        if let fanOut = snapshot.homeFanOut {
            counter("home_fanout_posts", "New posts pushed onto the cached home feeds they belong to", ("cache", "memory"), total: fanOut.posts)
            for (quantile, seconds) in fanOut.quantiles {
                gauge("home_fanout_lag", "seconds", "From a post's created_at to its push onto the cached homes, over the recent posts",
                      seconds, [("quantile", quantile)])
            }
        }
        for (quantile, seconds) in snapshot.writeFenceWaits {
            gauge("write_fence_wait", "seconds", "How long writes waited for the cache listener (read-your-writes), over the recent writes",
                  seconds, [("quantile", quantile)])
        }
        if let work = snapshot.listenerWork {
            counter("cache_listener_batches", "Batches of write announcements the cache listener applied", ("cache", "memory"), total: work.batches)
            for (stage, seconds) in work.busy {
                gauge("cache_listener_busy", "seconds", "Seconds the cache listener spent since start, by stage (every write's fence waits behind it)",
                      seconds, [("stage", stage)])
            }
        }
        outcomes("profile_pages_pushed", "A new post's author's cached profile pages: pushed (the post put on a shared first page), dropped (any other, or one it could not be put on)", snapshot.profilePages)
        for (source, total) in snapshot.homeAudience.sorted(by: { $0.key < $1.key }) {
            counter("home_audience_checks", "Cached homes checked for following a new post's author: by their kept relations, or by asking the database (none kept)",
                    ("source", source), total: total)
        }
        outcomes("home_held_reads", "Reads of a home the cache's home worker had yet to correct: waited (for the worker), timed_out (after 1 s), past_post (of those, the page predated a post on its way: read from the database)", snapshot.homeHolds)
        outcomes("profile_held_reads", "Reads of a profile's shared first page the profile worker had yet to put a new post on: waited, timed_out (after 1 s), past_post (of those, read from the database)", snapshot.profileHolds)
        if let realtime = snapshot.realtime {
            gauge("realtime_connections", "", "Realtime WebSocket connections open", Double(realtime.connections))
            gauge("realtime_channels", "", "Realtime channels joined, over every connection", Double(realtime.channels))
            counter("realtime_messages_sent", "Realtime messages queued to clients", ("kind", "all"), total: realtime.messagesSent)
            counter("realtime_slow_consumers_closed", "Realtime connections closed because they fell behind", ("kind", "all"),
                    total: realtime.slowConsumersClosed)
            counter("realtime_changes_delivered", "postgres_changes events sent to subscribers", ("kind", "all"), total: realtime.changesDelivered)
            counter("realtime_change_reads", "Changed rows read for subscribers (once per group of the same claims)", ("kind", "all"),
                    total: realtime.changesRead)
        }
        let process = snapshot.process
        func processGauge(_ name: String, _ help: String, _ value: Double) {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help)).set(value)
        }
        processGauge("process_cpu_seconds_total", "User and system CPU time spent, in seconds", process.cpuSeconds)
        processGauge("process_resident_memory_bytes", "Resident memory size in bytes", process.residentBytes)
        processGauge("process_virtual_memory_bytes", "Virtual memory size in bytes", process.virtualBytes)
        processGauge("process_open_fds", "Open file descriptors", process.openFileDescriptors)
        processGauge("process_max_fds", "Most open file descriptors allowed", process.maxFileDescriptors)
        processGauge("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds", process.startTimeSeconds)
    }

    /// The Prometheus text exposition of everything.
    public func render() -> [UInt8] { registry.emitToBuffer() }
}
