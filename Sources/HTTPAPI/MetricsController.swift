import Auth
import Crypto
import Database
import FeedCache
import Foundation
import HTTPTypes
import Hummingbird
import Observability
import PostgresNIO
import Realtime
import Redis

/// `GET /metrics`: the Prometheus text exposition. Never open by default: on the API port it needs
/// `Authorization: Bearer <METRICS_TOKEN>`, and without a token it is served only on its own port
/// (`METRICS_PORT`, bound to `METRICS_HOST`, loopback by default).
struct MetricsController: Sendable {
    let telemetry: AppTelemetry
    let client: PostgresClient
    let cache: ResponseCache
    let homeWindows: HomeWindowPreparer?
    var primer: SharedPagePrimer?
    /// The request pool's turns (its waiters are waiting for a connection too).
    var admission: PoolAdmission?
    let redis: RedisClient?
    let fences: WriteFences?
    let poolSize: Int
    var realtime: RealtimeEndpoint?
    var replicas: ReadReplicas?
    /// Whether a request must carry the token (always on the API port; on the metrics port only when one is set).
    let requireToken: Bool

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/metrics") { request, _ in try await scrape(request) }
    }

    /// `authorized`: the caller was let in otherwise (the dashboard's admin), no token needed.
    func scrape(_ request: Request, authorized: Bool = false) async throws -> Response {
        if requireToken, !authorized {
            guard let token = telemetry.settings.metricsToken else {
                throw APIError(
                    .forbidden, code: "metrics_disabled",
                    message: "metrics are not served on this port: set METRICS_TOKEN, or METRICS_PORT for a separate port")
            }
            guard let given = request.headers[.authorization].flatMap(bearerCredentials)?.trimmingSpaces, Self.same(given, token) else {
                throw APIError(
                    .unauthorized, code: "unauthorized", message: "metrics need Authorization: Bearer <METRICS_TOKEN>",
                    headers: [.wwwAuthenticate: #"Bearer realm="metrics""#])
            }
        }
        telemetry.metrics.collect(await snapshot())
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: telemetry.metrics.render())))
    }

    func snapshot() async -> ServerMetrics.Snapshot {
        var snapshot = ServerMetrics.Snapshot()
        snapshot.poolSize = poolSize
        if let status = replicas?.status {
            snapshot.replicas = (status.lags, status.routed.replica, status.routed.primary)
        }
        snapshot.poolInUse = PoolUsage.shared.inUse
        snapshot.poolWaiting = PoolUsage.shared.waiting + (admission.map { $0.waiting.writes + $0.waiting.reads } ?? 0)
        let client = client
        // A scrape must not hang on a busy pool or an absent database: idle is left out then.
        let backends = await withTimeout(.milliseconds(500)) {
            try await client.query(
                """
                SELECT (count(*) FILTER (WHERE state = 'idle'))::int, count(*)::int
                FROM pg_stat_activity WHERE application_name = \(PoolUsage.applicationName)
                """
            ).decode((Int, Int).self).first { _ in true } ?? (0, 0)
        }
        snapshot.poolIdle = backends?.0
        snapshot.databaseConnections = backends?.1
        let stats = cache.statistics
        snapshot.cacheEntries = stats.entries
        snapshot.cacheBytes = stats.bytes
        snapshot.cacheEvictions = stats.evictions
        snapshot.cacheInvalidations = stats.invalidations
        snapshot.queues = telemetry.queueCounts
        let lag = cache.fanOutLag.summary
        snapshot.homeFanOut = (lag.count, lag.quantiles)
        let work = cache.listenerWork.snapshot
        snapshot.listenerWork = (work.batches, ListenerWork.Stage.allCases.map { ($0.rawValue, (work.busy[$0] ?? .zero).seconds) })
        snapshot.profilePages = ["pushed": work.profilePagesPushed, "dropped": work.profilePagesDropped]
        snapshot.homeAudience = ["relations": work.audienceFromRelations, "database": work.audienceAsked]
        func outcomes(_ holds: PageHolds) -> [String: Int] {
            let statistics = holds.statistics
            return ["waited": statistics.waits - statistics.timedOut, "timed_out": statistics.timedOut, "past_post": statistics.readsPastHold]
        }
        snapshot.homeHolds = outcomes(cache.homeHolds)
        snapshot.profileHolds = outcomes(cache.profileHolds)
        if let shared = cache.shared?.statistics {
            snapshot.sharedCacheOperations = [
                "hit": shared.hits, "miss": shared.misses, "store": shared.stores, "failure": shared.failures, "flush": shared.flushes,
            ]
        }
        if let realtime {
            let totals = realtime.hub.statistics.totals
            var figures = ServerMetrics.Realtime()
            figures.connections = realtime.openConnections
            figures.channels = realtime.hub.memberCount
            figures.messagesSent = totals.messagesSent
            figures.slowConsumersClosed = totals.slowConsumersClosed
            figures.changesDelivered = totals.changesDelivered
            figures.changesRead = totals.changesRead
            snapshot.realtime = figures
        }
        if let prepared = homeWindows?.outcomes {
            snapshot.homeWindowsPrepared = [
                "built": prepared.built, "cached": prepared.cached, "dropped": prepared.dropped, "failed": prepared.failed,
            ]
        }
        if let primed = primer?.outcomes {
            snapshot.sharedPagesPrimed = ["built": primed.built, "cached": primed.cached, "failed": primed.failed]
        }
        if let fences = fences?.statistics {
            snapshot.writeFenceOutcomes = ["passed": fences.passed, "timed_out": fences.timedOut, "released": fences.released]
        }
        if let waits = fences?.waits.summary { snapshot.writeFenceWaits = waits.quantiles }
        if let redis {
            snapshot.redisUp = await withTimeout(.milliseconds(500)) { try await redis.send("PING") } != nil
        }
        return snapshot
    }

    /// Compares digests, so the time taken says nothing about how much of the token matched.
    static func same(_ given: String, _ token: String) -> Bool {
        SHA256.hash(data: Data(given.utf8)) == SHA256.hash(data: Data(token.utf8))
    }
}
