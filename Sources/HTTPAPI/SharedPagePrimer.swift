import DataAPI
import Database
import FeedCache
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Computes the anonymous first pages of the most-followed profiles and entities when the server
/// starts, off the request path, so that the readers arriving after a start or a deploy find them
/// cached instead of all asking PostgreSQL for them in the same minute.
///
/// Why: every answer the cache keeps is lost with the process. A 1,000-user arrival on a fresh
/// server sent 2,400 profiles' first reads to the database within a minute (the popular profiles
/// are the ones read, and each is read first once): the largest share of the feed requests that
/// went to the database (`docs/benchmarks.md`). A page is computed exactly as a reader's first
/// request would compute it — the same feed function under `anon`'s role and RLS, the same key,
/// tags and facts (`CachedRPCs.anonymousPage`) — through `ResponseCache.prepare`, so writes drop or
/// correct it as any page, and a reader who arrives while it is being computed waits for it.
///
/// Priming starts once the schema is loaded and the invalidation listener listens (a page stored
/// before would be dropped when it connects, or could miss a write), runs one page at a time (one
/// pool connection), and stops at the first failure or at shutdown. `CACHE_PRIME_PAGES` = 0 turns it off.
public final class SharedPagePrimer: Service, Sendable {
    /// How the priming went (on `/metrics` as `shared_pages_primed_total`).
    public struct Outcomes: Sendable, Equatable {
        /// Computed here; already cached (a reader was first); not cacheable or failed.
        public var built = 0, cached = 0, failed = 0
    }

    let cachedRPCs: CachedRPCs
    let service: DataAPIService
    let owner: PostgresClient
    let fences: WriteFences?
    let pages: Int
    let logger: Logger
    private let started: AsyncStream<Void>
    private let start: AsyncStream<Void>.Continuation
    private let counts = Mutex(Outcomes())

    public init(cachedRPCs: CachedRPCs, service: DataAPIService, owner: PostgresClient, fences: WriteFences?, pages: Int, logger: Logger) {
        self.cachedRPCs = cachedRPCs
        self.service = service
        self.owner = owner
        self.fences = fences
        self.pages = pages
        self.logger = logger
        (started, start) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var outcomes: Outcomes { counts.withLock { $0 } }

    /// Called when the schema is migrated and loaded: priming may begin.
    public func schemaReady() { start.yield() }

    public func run() async {
        await cancelWhenGracefulShutdown {
            for await _ in self.started {
                await self.prime()
                break
            }
        }
        start.finish()
        // A service that returns stops the whole group: done priming, it stays until the shutdown.
        try? await gracefulShutdown()
    }

    /// The subjects to prime, most followed first.
    static let subjectsQuery = """
        SELECT kind, id FROM (
            SELECT 'profile' AS kind, followed_profile_id AS id, count(*) AS followers FROM public.follows
            WHERE followed_profile_id IS NOT NULL AND status = 'accepted' GROUP BY followed_profile_id
            UNION ALL
            SELECT 'entity', followed_entity_id, count(*) FROM public.follows
            WHERE followed_entity_id IS NOT NULL AND status = 'accepted' GROUP BY followed_entity_id
        ) f ORDER BY followers DESC, id LIMIT $1
        """

    func prime() async {
        // The listener's first connection drops the whole cache: wait for it (a minute at most).
        for _ in 0..<600 where !(fences?.isListening ?? true) {
            do { try await Task.sleep(for: .milliseconds(100)) } catch { return }
        }
        guard fences?.isListening ?? true, let sharing = cachedRPCs.sharedPages, let schema = service.store.schemas.first else { return }
        let subjects: [(SharedPages.Feed, UUID)]
        do {
            var bindings = PostgresBindings()
            bindings.append(pages)
            subjects = try await owner.guardedQuery(PostgresQuery(unsafeSQL: Self.subjectsQuery, binds: bindings), logger: logger).map { row in
                let (kind, id) = try row.decode((String, UUID).self)
                return (kind == "entity" ? .entity : .profile, id)
            }
        } catch {
            logger.warning("shared pages not primed: their subjects could not be read", metadata: ["error": "\(String(reflecting: error))"])
            return
        }
        let began = ContinuousClock.now
        for (feed, id) in subjects {
            guard !Task.isCancelled else { return }
            let page = CachedRPCs.ShareablePage(feed: feed, subject: .id(id), cursor: nil, limit: Self.defaultLimit)
            do {
                let built = try await cachedRPCs.primeAnonymousPage(sharing: sharing, page: page, schema: schema) { [service] in
                    try await service.call(Self.request(schema: schema, page: page), caller: .anonymous, viaGET: false)
                }
                counts.withLock { built ? ($0.built += 1) : ($0.cached += 1) }
            } catch is CachedRPCs.NotCacheable {
                counts.withLock { $0.failed += 1 }  // this page answers an error: its readers get it as asked
            } catch {
                counts.withLock { $0.failed += 1 }
                logger.warning("shared pages' priming stopped", metadata: ["error": "\(String(reflecting: error))"])
                return
            }
        }
        let outcomes = outcomes
        logger.info(
            "shared pages primed",
            metadata: ["built": "\(outcomes.built)", "cached": "\(outcomes.cached)", "seconds": "\((ContinuousClock.now - began).components.seconds)"])
    }

    /// The clients' page when they name no `p_limit`: the feed functions' default.
    static let defaultLimit = 20

    /// A first page's request as a client sends it: `POST /rpc/<feed> {"p_profile_id": …}`.
    static func request(schema: String, page: CachedRPCs.ShareablePage) -> DataRequest {
        let argument = page.feed == .entity ? "p_entity_id" : "p_profile_id"
        guard case .id(let id) = page.subject else { preconditionFailure("only profiles and entities are primed") }
        var request = DataRequest(
            schema: schema, resource: page.feed.rawValue, query: [], body: Array(#"{"\#(argument)":"\#(id.uuidString.lowercased())"}"#.utf8))
        request.method = "POST"
        request.path = "/rest/v1/rpc/\(page.feed.rawValue)"
        return request
    }
}

extension CachedRPCs {
    /// Computes the anonymous page `page` ahead of its first reader, as `anonymousPage` would, unless
    /// it is cached or being computed; answers whether it was computed here.
    func primeAnonymousPage(
        sharing: SharedPages, page: ShareablePage, schema: String, compute: @escaping @Sendable () async throws -> DataResponse
    ) async throws -> Bool {
        let contentType = Self.jsonContentType
        return try await cache.prepare(
            Self.sharedKey(schema: schema, page: page, role: "anon", sharedBy: "anon", contentType: contentType),
            tags: Self.sharedTags(page: page, sharedBy: "anon"),
            compute: Self.computeShared(compute, contentType: contentType, describe: Self.anonymousFacts(sharing, page), logger: sharing.logger))
    }
}
