import Auth
import DataAPI
import Database
import FeedCache
import Logging
import ServiceLifecycle
import Synchronization

/// Builds a user's home window (and reads their relations, for the shared pages) when their session
/// starts (sign-in, refresh, a verified mail), off the request path, so that their first home read
/// finds it built — as Mastodon regenerates a returning user's home timeline when they sign in
/// instead of on their first read.
///
/// Why: the window (`CachedRPCs.homePageFromWindow`) is built by the first read otherwise, and when
/// a thousand users open the app in the same minute, a thousand ~12 ms feed queries arrive in the
/// same second, in the same pool queue as every other request (writes included). Here they run
/// `concurrency` at a time (two pool connections at most), in the order the sessions started; a
/// session whose window is cached and fresh, or already being built, costs nothing.
///
/// The window is computed exactly as a read would compute it — the same key, tags and request,
/// under the user's own role and claims (the issued token resolved as a request's would be) — and
/// through `ResponseCache.prepare`, so fan-out, merges and invalidations treat it as any window.
/// A read that arrives while it is being built waits for that computation (coalesced).
public final class HomeWindowPreparer: Service, Sendable {
    /// How the builds asked for so far ended (on `/metrics` as `home_windows_prepared_total`).
    public struct Outcomes: Sendable, Equatable {
        /// Computed here; already cached and fresh, or being built (nothing done); not queued because
        /// the queue was full; failed (token refused, database error, a non-200 answer).
        public var built = 0, cached = 0, dropped = 0, failed = 0
    }

    /// Sessions waiting for their window beyond this are not queued (their first read builds it).
    public static let queueCapacity = 10_000

    let cachedRPCs: CachedRPCs
    let service: DataAPIService
    let callers: CallerResolver
    let concurrency: Int
    let logger: Logger
    private let tokens: AsyncStream<String>
    private let queue: AsyncStream<String>.Continuation
    private let counts = Mutex(Outcomes())

    public init(cachedRPCs: CachedRPCs, service: DataAPIService, callers: CallerResolver, concurrency: Int, logger: Logger) {
        self.cachedRPCs = cachedRPCs
        self.service = service
        self.callers = callers
        self.concurrency = max(1, concurrency)
        self.logger = logger
        (tokens, queue) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingOldest(Self.queueCapacity))
    }

    public var outcomes: Outcomes { counts.withLock { $0 } }

    /// Queues the window of the session's user; never waits.
    public func sessionStarted(_ session: AuthSession) {
        if case .dropped = queue.yield(session.accessToken) { counts.withLock { $0.dropped += 1 } }
    }

    public func run() async {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                var running = 0
                for await token in self.tokens {
                    if running == self.concurrency {
                        await group.next()
                        running -= 1
                    }
                    group.addTask { await self.build(forHolderOf: token) }
                    running += 1
                }
            }
        }
        queue.finish()
    }

    /// Builds the window of the token's user, as a request bearing it would.
    func build(forHolderOf token: String) async {
        guard let caller = try? await callers.caller(authorization: "Bearer " + token, apikey: nil), caller.role == .authenticated,
            let viewer = caller.userID
        else {
            counts.withLock { $0.failed += 1 }
            return
        }
        let schema = service.store.schemas[0]
        let service = service
        do {
            let built = try await cachedRPCs.cache.prepare(
                CachedRPCs.homeWindowKey(schema: schema, viewer: CacheTag.id(viewer), contentType: CachedRPCs.jsonContentType),
                tags: CachedRPCs.homeWindowTags(viewer: CacheTag.id(viewer))
            ) {
                try CachedRPCs.storedWindow(
                    try await service.call(CachedRPCs.homeWindowRequest(schema: schema), caller: caller, viaGET: false),
                    contentType: CachedRPCs.jsonContentType)
            }
            counts.withLock { built ? ($0.built += 1) : ($0.cached += 1) }
        } catch {
            counts.withLock { $0.failed += 1 }
            logger.debug("home window not built at session start", metadata: ["user_id": "\(viewer)", "error": "\(String(reflecting: error))"])
        }
        // And the relations the profile and entity pages they open next are shared by (one more
        // transaction each, which 1,000 arriving users otherwise made in the same seconds too).
        if let sharing = cachedRPCs.sharedPages {
            do {
                _ = try await sharing.relations(of: caller, in: cachedRPCs.cache.relations)
            } catch {
                logger.debug("relations not read at session start", metadata: ["user_id": "\(viewer)", "error": "\(String(reflecting: error))"])
            }
        }
    }
}
