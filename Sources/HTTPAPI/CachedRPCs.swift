import Crypto
import DataAPI
import Database
import FeedCache
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The feed RPCs (and any other configured function) answered through the `ResponseCache`.
///
/// The key holds everything that can change the answer: schema, function, arguments (query string
/// and body), `Accept`, `Prefer`, `Range`, and the viewer — the user id, or one shared `anon` key
/// for anonymous callers. Tags say which writes drop the answer (see `CacheInvalidationListener`).
/// Every response says what happened in `Cache-Status` (RFC 9211) and, when cached, `Age`.
public struct CachedRPCs: Sendable {
    public let cache: ResponseCache
    public let functions: Set<String>
    public let enabled: Bool
    /// Profile pages shared between viewers whose view is the anonymous one (nil: every page per viewer).
    public var sharedPages: SharedPages?

    public init(cache: ResponseCache, functions: Set<String>, enabled: Bool, sharedPages: SharedPages? = nil) {
        self.cache = cache
        self.functions = functions
        self.enabled = enabled
        self.sharedPages = sharedPages
    }

    /// A non-200 answer (an error, an empty result shape): handed to every waiting caller, never stored.
    struct NotCacheable: Error {
        let result: DataResponse
    }

    static let cacheName = "FeedFusion"
    static let maximumKeyedBody = 4096

    func call(
        _ request: Request, _ context: AppRequestContext, schema: String, function: String, body: [UInt8], viaGET: Bool,
        caching: HTTPCaching, compute: @escaping @Sendable () async throws -> DataResponse,
        computeAnonymous: (@Sendable () async throws -> DataResponse)? = nil,
        computeHomeWindow: (@Sendable () async throws -> DataResponse)? = nil
    ) async throws -> Response {
        let singleObject = request.headers[.accept]?.contains(RestController.singleObjectMediaType) == true
        let contentType = singleObject ? RestController.singleObjectContentType : Self.jsonContentType
        func uncached(_ result: DataResponse, status: String) -> Response {
            var headers = RestController.headers(result, contentType: contentType, location: false)
            headers[.cacheStatus] = status
            return caching.respond(
                request, role: context.caller.role, isRead: true, status: HTTPResponse.Status(code: result.status), headers: headers,
                body: result.body.map { ByteBuffer(string: $0) })
        }
        // Feed arguments are a few bytes; a large body would only make a large key.
        // CSV is not stored: its counters could not be kept live (`withLiveCounters` patches JSON rows).
        let csv = request.headers[.accept]?.contains("text/csv") == true
        guard enabled, body.count <= Self.maximumKeyedBody, !csv else {
            context.trace.update { $0.cacheResult = "bypass" }
            return uncached(try await compute(), status: "\(Self.cacheName); fwd=bypass")
        }
        if let sharing = sharedPages, context.caller.role == .authenticated {
            sharing.prefetchRelations(of: context.caller, in: cache.relations)
        }
        if let sharing = sharedPages, let page = Self.shareablePage(function: function, request: request, body: body, viaGET: viaGET) {
            switch context.caller.role {
            case .anon:
                // An anonymous reader's page is the shared one itself: cached with the facts that let
                // signed-in viewers share it (a page an anonymous reader computed first was kept
                // without them, and no signed-in viewer could share it until it expired).
                do {
                    let answer = try await anonymousPage(
                        sharing: sharing, page: page, schema: schema, contentType: contentType, compute: computeAnonymous ?? compute)
                    return respond(answer, request, context, caching: caching)
                } catch let error as NotCacheable {
                    context.trace.update { $0.cacheResult = "miss" }
                    return uncached(error.result, status: "\(Self.cacheName); fwd=miss; detail=not-cacheable")
                }
            case .authenticated:
                if let computeAnonymous,
                    let shared = try await sharedAnswer(
                        request, context, sharing: sharing, page: page, schema: schema, contentType: contentType, caching: caching,
                        compute: compute, computeAnonymous: computeAnonymous)
                {
                    return shared
                }
            case .serviceRole:
                break
            }
        }
        // A write let go before it reached this viewer's cached home (`PageHolds`): the read waits
        // for the home worker, as the writer would have; should that run out, pages from before a
        // post on its way are not used, and the database answers.
        if function == "feed_fusion_home", let viewer = context.caller.userID.map(CacheTag.id) {
            await cache.awaitHold(cache.homeHolds, of: viewer, dropping: .home(viewer))
        }
        if function == "feed_fusion_home", let computeHomeWindow,
            let page = try await homePageFromWindow(
                request, context, schema: schema, body: body, viaGET: viaGET, contentType: contentType, caching: caching,
                computeWindow: computeHomeWindow)
        {
            return page
        }
        let viewer = context.caller.userID.map(CacheTag.id) ?? "anon"
        let answer: ResponseCache.Answer
        do {
            answer = try await cache.fetch(
                Self.key(request, schema: schema, function: function, body: body, role: context.caller.role.rawValue, viewer: viewer),
                tags: { Self.tags(function: function, request: request, body: body, viaGET: viaGET, viewer: viewer) }
            ) {
                try Self.stored(try await compute(), contentType: contentType)
            }
        } catch let error as NotCacheable {
            context.trace.update { $0.cacheResult = "miss" }
            return uncached(error.result, status: "\(Self.cacheName); fwd=miss; detail=not-cacheable")
        }
        return respond(answer, request, context, caching: caching)
    }

    /// A computed answer as the cache keeps it; a non-200 one is handed to every waiting caller, never stored.
    /// `compressed`: gzipped once here for the hits to send; not for a window, only ever sent in slices.
    static func stored(_ result: DataResponse, contentType: String, compressed: Bool = true) throws -> CachedResponse {
        guard result.status == 200, let body = result.body else { throw NotCacheable(result: result) }
        let bytes = ByteBuffer(string: body)
        return CachedResponse(
            status: 200, contentType: contentType, contentRange: result.contentRange, body: bytes,
            gzipped: compressed ? HTTPCaching.gzip(bytes) : nil)
    }

    /// A computed home window as the cache keeps it, for the read path and the sign-in build alike:
    /// uncompressed (it is only ever sent in slices, and the fan-out edits it in place).
    static func storedWindow(_ window: DataResponse, contentType: String) throws -> CachedResponse {
        try stored(window, contentType: contentType, compressed: false)
    }

    /// The response for a cache answer: `Cache-Status` and `Age`, the live counters patched in (with
    /// the viewer's hearts from `relations` on a shared page), recorded in the request's trace. A
    /// request that had to read the viewer's relations (`queried`) went to the database: RFC 9211's
    /// `fwd=miss`, and a miss in the trace.
    func respond(
        _ answer: ResponseCache.Answer, _ request: Request, _ context: AppRequestContext, caching: HTTPCaching,
        relations: ViewerRelations? = nil, queried: Bool = false, page: (body: ByteBuffer, slots: FeedPageSlots)? = nil,
        detail: String? = nil
    ) -> Response {
        // A shared (Redis) answer spared the database a query, as a hit does.
        context.trace.update {
            $0.cacheResult = queried ? "miss" : (answer.shared ? ResponseCache.Outcome.hit.rawValue : answer.outcome.rawValue)
        }
        let detail = detail.map { "; detail=\($0)" } ?? (relations == nil ? "" : "; detail=shared")
        var headers: HTTPFields = [
            .contentType: answer.response.contentType,
            .age: "\(max(0, answer.age.components.seconds))",
            .cacheStatus: queried ? "\(Self.cacheName); fwd=miss\(detail)" : Self.cacheStatus(answer) + detail,
        ]
        if let page {
            headers[.contentRange] = CachedResponse.contentRange(rows: page.slots.rows.count)
        } else if let range = answer.response.contentRange {
            headers[.contentRange] = range
        }
        let (body, etag, gzipped) = Self.withLiveCounters(
            answer, counters: cache.counters, viewer: context.caller.userID.map(CacheTag.id), relations: relations, page: page)
        return caching.respond(
            request, role: context.caller.role, isRead: true, status: .ok, headers: headers, body: body, etag: etag, gzipped: gzipped)
    }

    /// The answer's body with the like counts and the viewer's likes announced since it was
    /// computed: a like changes these numbers in place instead of dropping the page. Unchanged
    /// (and its stored ETag and gzip kept) when nothing newer concerns its rows. A page shared
    /// from the anonymous one (`relations` given) gets the viewer's own hearts from their relations.
    static func withLiveCounters(
        _ answer: ResponseCache.Answer, counters: LiveCounters, viewer: String?, relations: ViewerRelations? = nil,
        page: (body: ByteBuffer, slots: FeedPageSlots)? = nil
    ) -> (body: ByteBuffer, etag: String, gzipped: ByteBuffer?) {
        let response: CachedResponse
        if let page {
            // A page cut from a window: its own bytes (validator and compression made when sent, if asked for).
            response = CachedResponse(body: page.body, slots: page.slots, of: answer.response)
        } else {
            response = answer.response
        }
        guard !counters.isEmpty || !(relations?.liked.isEmpty ?? true), let slots = response.slots else {
            return (response.body, response.etag, response.gzipped)
        }
        let newer = counters.newer(than: .now - answer.age, viewer: viewer)
        var liked = newer.liked
        if let relations {
            // Likes announced after the relations were read win; before, the relations say.
            let sinceRelations = counters.newer(than: relations.loadedAt, viewer: viewer).liked
            liked = { post in sinceRelations(post) ?? UUID(uuidString: post).map(relations.liked.contains) }
        }
        guard let patched = slots.patched(response.body, likeCount: newer.likeCount, liked: liked) else {
            return (response.body, response.etag, response.gzipped)
        }
        return (patched, CachedResponse.etag(of: patched), nil)
    }

    /// A profile, entity or nearby page asked plainly: which feed, about what, below which cursor, how many.
    struct ShareablePage {
        let feed: SharedPages.Feed
        let subject: SharedPages.Subject
        let cursor: String?
        let limit: Int
    }

    /// The anonymous page of a profile or entity, served to a signed-in viewer whose view it is
    /// (see `SharedPages`), or nil when the viewer's own page must be computed.
    func sharedAnswer(
        _ request: Request, _ context: AppRequestContext, sharing: SharedPages, page: ShareablePage, schema: String,
        contentType: String, caching: HTTPCaching, compute: @escaping @Sendable () async throws -> DataResponse,
        computeAnonymous: @escaping @Sendable () async throws -> DataResponse
    ) async throws -> Response? {
        guard let viewer = context.caller.userID,
            let (relations, relationsQueried) = try await sharing.relations(of: context.caller, in: cache.relations)
        else { return nil }
        if SharedPages.viewerMayShareFollowerPage(feed: page.feed, subject: page.subject, viewer: viewer, relations: relations) {
            return try await followerAnswer(
                request, context, sharing: sharing, page: page, schema: schema, contentType: contentType,
                caching: caching, relations: relations, relationsQueried: relationsQueried, compute: compute)
        }
        guard SharedPages.viewerMayShare(feed: page.feed, subject: page.subject, viewer: viewer, relations: relations) else { return nil }
        let answer: ResponseCache.Answer
        do {
            answer = try await anonymousPage(sharing: sharing, page: page, schema: schema, contentType: contentType, compute: computeAnonymous)
        } catch is NotCacheable {
            return nil  // the viewer's own page is computed, and its error answered as theirs
        }
        let anonymousRows = answer.response.rowIDs
        guard let facts = answer.response.sharing else { return nil }
        if SharedPages.viewerSeesAnonymousPage(
            feed: page.feed, subject: page.subject, viewer: viewer, relations: relations, facts: facts, rows: Set(anonymousRows))
        {
            return respond(answer, request, context, caching: caching, relations: relations, queried: relationsQueried)
        }
        // Not the anonymous view: the page of the viewers who see exactly the same posts there.
        guard let rows = SharedPages.viewerRows(
            facts: facts, limit: page.limit, rangeReachesEnd: anonymousRows.count < page.limit, viewer: viewer, relations: relations)
        else { return nil }
        return try await sameViewAnswer(
            request, context, sharing: sharing, page: page, schema: schema, contentType: contentType, caching: caching,
            relations: relations, relationsQueried: relationsQueried, rows: rows, compute: compute)
    }

    /// A page as the viewers who see the same posts in its range see it: keyed by those posts (the
    /// first `limit` the viewer may see there, worked out from the anonymous page's facts and the
    /// viewer's relations by the policies' rule), computed for the first such viewer under their
    /// own role, and served to another only when its rows are exactly those posts and each mention
    /// on it would be shown to them alike (`SharedPages.viewerSeesSameView`). Entity and nearby pages
    /// differ from the anonymous one for whoever follows the author of a followers-only post on them
    /// (or a private author): at 1,000 users that was a fifth of the entity reads, each computed per viewer.
    func sameViewAnswer(
        _ request: Request, _ context: AppRequestContext, sharing: SharedPages, page: ShareablePage, schema: String,
        contentType: String, caching: HTTPCaching, relations: ViewerRelations, relationsQueried: Bool, rows: [UUID],
        compute: @escaping @Sendable () async throws -> DataResponse
    ) async throws -> Response? {
        guard let viewer = context.caller.userID else { return nil }
        let view = "view:" + SHA256.hash(data: Data(rows.map(CacheTag.id).joined(separator: ",").utf8)).hexEncoded
        guard let answer = try await viewersPage(
            sharing: sharing, page: page, schema: schema, contentType: contentType, sharedBy: view, shown: Self.shownMentions,
            compute: compute),
            let facts = answer.response.sharing,
            SharedPages.viewerSeesSameView(
                viewer: viewer, relations: relations, facts: facts, rows: rows,
                pageRows: answer.response.rowIDs)
        else { return nil }
        return respond(answer, request, context, caching: caching, relations: relations, queried: relationsQueried, detail: "shared-view")
    }

    /// A page computed for one viewer (by `compute`, under their role) and kept for the viewers
    /// `sharedBy` stands for, with the mentions its rows show (`shown`, read off the page: nil, the
    /// page is shared with nobody); each other viewer is served it only when each mention would be
    /// shown to them alike. Nil when the page is not cacheable.
    func viewersPage(
        sharing: SharedPages, page: ShareablePage, schema: String, contentType: String, sharedBy: String,
        shown: @escaping @Sendable (ByteBuffer) -> Set<UUID>?, compute: @escaping @Sendable () async throws -> DataResponse
    ) async throws -> ResponseCache.Answer? {
        let describe: @Sendable (CachedResponse) async throws -> PageFacts? = { response in
            guard let shown = shown(response.body) else { return nil }
            let mentions = try await sharing.mentions(of: response.rowIDs)
            return PageFacts(candidates: [], mentions: mentions.map { mention in
                var mention = mention
                mention.shown = shown.contains(mention.profile)
                return mention
            })
        }
        do {
            return try await cache.fetch(
                Self.sharedKey(schema: schema, page: page, role: "authenticated", sharedBy: sharedBy, contentType: contentType),
                tags: { Self.sharedTags(page: page, sharedBy: sharedBy) },
                compute: Self.computeShared(compute, contentType: contentType, describe: describe, logger: sharing.logger))
        } catch is NotCacheable {
            return nil
        }
    }

    /// The profiles a page's rows show as mentioned; nil when `body` is not rows.
    static func shownMentions(_ body: ByteBuffer) -> Set<UUID>? {
        guard let rows = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [[String: Any]] else { return nil }
        var shown = Set<UUID>()
        for row in rows {
            for target in row["targets"] as? [[String: Any]] ?? [] where target["kind"] as? String == "profile" {
                if let id = (target["id"] as? String).flatMap(UUID.init(uuidString:)) { shown.insert(id) }
            }
        }
        return shown
    }

    /// The anonymous page (computed by `compute` under `anon`'s role when not cached), kept once for
    /// anonymous readers and the signed-in viewers whose view it is, with its facts (`SharedPages.facts`).
    /// Throws `NotCacheable` for a non-200 answer.
    func anonymousPage(
        sharing: SharedPages, page: ShareablePage, schema: String, contentType: String,
        compute: @escaping @Sendable () async throws -> DataResponse
    ) async throws -> ResponseCache.Answer {
        await awaitProfileHold(page)
        return try await cache.fetch(
            Self.sharedKey(schema: schema, page: page, role: "anon", sharedBy: "anon", contentType: contentType),
            tags: { Self.sharedTags(page: page, sharedBy: "anon") },
            compute: Self.computeShared(compute, contentType: contentType, describe: Self.anonymousFacts(sharing, page), logger: sharing.logger))
    }

    /// Before a profile's shared first page is read: a new post of the profile on its way onto it (the
    /// profile worker's, `ProfilePost`) is waited for, as for a held home — the author's other pages, their
    /// own among them, went before their answer, so only these readers wait.
    func awaitProfileHold(_ page: ShareablePage) async {
        guard page.feed == .profile, page.cursor == nil, case .id(let id) = page.subject else { return }
        let profile = CacheTag.id(id)
        await cache.awaitHold(cache.profileHolds, of: profile, dropping: .profile(profile))
    }

    /// What lets a viewer share an anonymous page: the posts in the range it covers and the profiles it mentions.
    static func anonymousFacts(_ sharing: SharedPages, _ page: ShareablePage) -> @Sendable (CachedResponse) async throws -> PageFacts? {
        { response in
            // A full page covers down to its last row; a short one, the rest of the feed.
            let slots = response.slots?.rows ?? []
            let lowest = slots.count == page.limit ? slots.last?.cursor : nil
            return try await sharing.facts(
                feed: page.feed, subject: page.subject, cursor: page.cursor, lowest: lowest, rows: response.rowIDs)
        }
    }

    /// Computes a page to be shared between viewers and, right after it, what the decision to share
    /// it needs (`describe`; when it fails or answers nil, the page is shared with nobody).
    static func computeShared(
        _ compute: @escaping @Sendable () async throws -> DataResponse, contentType: String,
        describe: @escaping @Sendable (CachedResponse) async throws -> PageFacts?, logger: Logger
    ) -> @Sendable () async throws -> CachedResponse {
        {
            var response = try stored(try await compute(), contentType: contentType)
            do {
                response.sharing = try await describe(response)
            } catch {
                logger.warning("page facts could not be read; the page is not shared", metadata: ["error": "\(String(reflecting: error))"])
            }
            return response
        }
    }

    /// The key of a page shared between viewers (in place of a viewer, `sharedBy`): made from the
    /// arguments as parsed, not as written, so that every client's way of writing the same request
    /// (key order, spacing, a default `p_limit` spelled out) finds the same page — and so that a page
    /// computed ahead of any request (`SharedPagePrimer`) is the one the requests find.
    static func sharedKey(schema: String, page: ShareablePage, role: String, sharedBy: String, contentType: String) -> String {
        let subject: String
        switch page.subject {
        case .id(let id): subject = CacheTag.id(id)
        case .place(let latitude, let longitude, let radius): subject = "\(latitude),\(longitude),\(radius)"
        }
        return [schema, page.feed.rawValue, "shared", role, sharedBy, contentType, subject, page.cursor ?? "", "\(page.limit)"]
            .joined(separator: "\u{0}")
    }

    /// A shared page's tags: the viewer it stands for, and its subject. A profile's first page as
    /// anon or as its followers see it is also tagged `profiletop`: a new post of the profile goes
    /// on it instead of dropping it (`ResponseCache.push(_:toProfileOf:)`).
    static func sharedTags(page: ShareablePage, sharedBy: String) -> [CacheTag] {
        switch page.subject {
        case .id(let id) where page.feed == .entity: return [.viewer(sharedBy), .entity(CacheTag.id(id))]
        case .id(let id):
            let profile = CacheTag.id(id)
            guard page.cursor == nil, let view = ProfilePost.View(rawValue: sharedBy) else { return [.viewer(sharedBy), .profile(profile)] }
            return [.viewer(sharedBy), .profile(profile), CacheTag(ResponseCache.profileTopKind, "\(profile)/\(view.rawValue)/\(page.limit)")]
        case .place: return [.viewer(sharedBy), .nearby]
        }
    }

    /// A profile's page as its followers see it, computed for the first follower who asks and served
    /// to every other follower whose page it is (`SharedPages.viewerSeesFollowerPage`); nil when the
    /// viewer's own page must be computed. The popular profiles are read mostly by their followers,
    /// who cannot share the anonymous page (their rows say `following` and hold followers-only posts).
    /// The page itself must show that it is a follower's view: rows, each saying `following` and none
    /// private (computed for a viewer who has since unfollowed, or been made an admin, it is kept for
    /// that viewer alone).
    func followerAnswer(
        _ request: Request, _ context: AppRequestContext, sharing: SharedPages, page: ShareablePage, schema: String,
        contentType: String, caching: HTTPCaching, relations: ViewerRelations, relationsQueried: Bool,
        compute: @escaping @Sendable () async throws -> DataResponse
    ) async throws -> Response? {
        await awaitProfileHold(page)
        guard let viewer = context.caller.userID,
            let answer = try await viewersPage(
                sharing: sharing, page: page, schema: schema, contentType: contentType, sharedBy: "followers", shown: Self.followerView,
                compute: compute)
        else { return nil }
        guard let facts = answer.response.sharing,
            SharedPages.viewerSeesFollowerPage(feed: page.feed, subject: page.subject, viewer: viewer, relations: relations, facts: facts)
        else { return nil }
        return respond(answer, request, context, caching: caching, relations: relations, queried: relationsQueried, detail: "shared-followers")
    }

    /// The profiles a follower's page shows as mentioned, when `body` is one: rows, each with reasons
    /// `["following"]` and not private. Nil otherwise (not to be shared).
    static func followerView(_ body: ByteBuffer) -> Set<UUID>? {
        guard let rows = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [[String: Any]], !rows.isEmpty
        else { return nil }
        for row in rows {
            guard row["reasons"] as? [String] == ["following"], let visibility = row["visibility"] as? String, visibility != "private"
            else { return nil }
        }
        return shownMentions(body)
    }

    /// How many of a viewer's newest home rows one cached window holds: three pages of the clients'
    /// 20. A first page and the pages after it (keyset cursors into the window) are cut from it, so
    /// a reader scrolling down costs the database nothing until they pass the window; computing 60
    /// rows costs about twice 20 (`scripts/bench-feed`), a page each read cost one query each.
    public static let homeWindowRows = 60

    /// A plain home request (first page or a cursor inside the window) answered from the viewer's
    /// home window, computed by `computeWindow` when not cached; nil when the window cannot answer
    /// it (not plain, a cursor outside it, a page running past it): the page is computed as asked.
    /// The window is tagged as a first page of `homeWindowRows` rows, so fan-out on write pushes
    /// new posts onto it, and every write that drops a viewer's home drops it.
    func homePageFromWindow(
        _ request: Request, _ context: AppRequestContext, schema: String, body: [UInt8], viaGET: Bool, contentType: String,
        caching: HTTPCaching, computeWindow: @escaping @Sendable () async throws -> DataResponse
    ) async throws -> Response? {
        guard context.caller.role == .authenticated, let viewerID = context.caller.userID,
            let plain = Self.plainArguments(request: request, body: body, viaGET: viaGET, allowed: []),
            plain.limit <= Self.homeWindowRows
        else { return nil }
        let viewer = CacheTag.id(viewerID)
        let rows = Self.homeWindowRows
        let answer: ResponseCache.Answer
        do {
            answer = try await cache.fetch(
                Self.homeWindowKey(schema: schema, viewer: viewer, contentType: contentType), tags: { Self.homeWindowTags(viewer: viewer) }
            ) {
                try Self.storedWindow(try await computeWindow(), contentType: contentType)
            }
        } catch is NotCacheable {
            return nil
        }
        let window = answer.response
        guard let slots = window.pageSlots,
            let page = slots.page(after: plain.cursor, limit: plain.limit, complete: !window.incomplete && slots.rows.count < rows, of: window.body)
        else { return nil }
        return respond(answer, request, context, caching: caching, page: page, detail: "home-window")
    }

    /// The cache key of a viewer's home window (one per schema and media type).
    static func homeWindowKey(schema: String, viewer: String, contentType: String) -> String {
        [schema, "feed_fusion_home", "window", "authenticated", viewer, "\(homeWindowRows)", contentType].joined(separator: "\u{0}")
    }

    /// A home window's tags: dropped with the viewer's pages and home, pushed onto as a first page of
    /// `homeWindowRows` rows, merged into on a follow (`homewindow`).
    static func homeWindowTags(viewer: String) -> [CacheTag] {
        [.viewer(viewer), .home(viewer), CacheTag(ResponseCache.homeTopKind, "\(viewer)/\(homeWindowRows)"),
         CacheTag(ResponseCache.homeWindowKind, viewer)]
    }

    /// The request that computes a window: `POST /rpc/feed_fusion_home {"p_limit": 60}`. Nothing of
    /// the reader's own request goes in (the function reads no request header), so a window built
    /// when its user signs in is the one their first read would have built.
    static func homeWindowRequest(schema: String) -> DataRequest {
        var request = DataRequest(
            schema: schema, resource: "feed_fusion_home", query: [], body: Array(#"{"p_limit":\#(homeWindowRows)}"#.utf8))
        request.method = "POST"
        request.path = "/rest/v1/rpc/feed_fusion_home"
        return request
    }

    static let jsonContentType = "application/json; charset=utf-8"

    static let sharedCacheName = "FeedFusion-Redis"

    /// RFC 9211: `hit`, or why the request went to the database and what came of it. An answer from
    /// Redis lists both caches, the one nearer the database first.
    static func cacheStatus(_ answer: ResponseCache.Answer) -> String {
        let ttl = answer.timeToLive.components.seconds
        if answer.shared {
            return "\(sharedCacheName); hit, \(cacheName); fwd=miss; stored"
        }
        switch answer.outcome {
        case .hit: return "\(cacheName); hit; ttl=\(ttl)"
        case .miss: return "\(cacheName); fwd=miss; stored"
        case .coalesced: return "\(cacheName); fwd=miss; collapsed"
        case .stale: return "\(cacheName); fwd=stale; ttl=\(ttl); detail=served-stale"
        case .bypass: return "\(cacheName); fwd=bypass"
        }
    }

    static func key(_ request: Request, schema: String, function: String, body: [UInt8], role: String, viewer: String) -> String {
        let method = request.method == .post ? "POST" : "GET"
        return [
            schema, function, method, role, viewer,
            request.headers[.accept] ?? "", request.headers[values: .prefer].joined(separator: ","), request.headers[.range] ?? "",
            request.uri.query ?? "", String(decoding: body, as: UTF8.self),
        ].joined(separator: "\u{0}")
    }

    /// What the answer depends on besides the viewer: the feed's subject.
    static func tags(function: String, request: Request, body: [UInt8], viaGET: Bool, viewer: String) -> [CacheTag] {
        func argument(_ name: String) -> String? {
            let raw: String?
            if viaGET {
                raw = RestController.queryItems(request.uri.query ?? "").last { $0.name == name }?.value
            } else {
                raw = (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])?[name] as? String
            }
            return raw.flatMap(UUID.init(uuidString:)).map(CacheTag.id)
        }
        var tags: [CacheTag] = [.viewer(viewer)]
        switch function {
        case "feed_fusion_home":
            tags.append(.home(viewer))
            if let limit = plainFirstPageLimit(request: request, body: body, viaGET: viaGET) {
                tags.append(CacheTag(ResponseCache.homeTopKind, "\(viewer)/\(limit)"))
            }
        case "feed_fusion_profile": if let profile = argument("p_profile_id") { tags.append(.profile(profile)) }
        case "feed_fusion_entity": if let entity = argument("p_entity_id") { tags.append(.entity(entity)) }
        case "feed_fusion_nearby": tags.append(.nearby)
        default: tags.append(CacheTag("rpc", function))
        }
        return tags
    }
}

extension CachedRPCs {
    /// A feed request asked plainly: POST, JSON arguments among `allowed` only, no query string,
    /// range or preferences, the default media type — the requests whose answer the cache may
    /// reshape (push a post onto, share between viewers). Its arguments, or nil.
    static func plainArguments(request: Request, body: [UInt8], viaGET: Bool, allowed: Set<String>) -> (
        arguments: [String: Any], limit: Int, cursor: String?
    )? {
        guard !viaGET, (request.uri.query ?? "").isEmpty, request.headers[.range] == nil, request.headers[values: .prefer].isEmpty,
            request.headers[.accept].map({ $0.contains("application/json") || $0.contains("*/*") }) ?? true
        else { return nil }
        let arguments = body.isEmpty ? [:] : (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        guard let arguments, Set(arguments.keys).isSubset(of: allowed.union(["p_limit", "p_cursor"])),
            let limit = arguments["p_limit"].map({ $0 as? Int }) ?? 20, (1...100).contains(limit)
        else { return nil }
        let cursor = arguments["p_cursor"]
        guard cursor == nil || cursor is NSNull || cursor is String else { return nil }
        return (arguments, limit, cursor as? String)
    }

    /// A profile, entity or nearby feed request asked plainly (any cursor, valid arguments): the
    /// requests whose anonymous page may be shared. Anything else (a bad argument included) is
    /// answered as asked.
    static func shareablePage(function: String, request: Request, body: [UInt8], viaGET: Bool) -> ShareablePage? {
        guard let feed = SharedPages.Feed(rawValue: function),
            let plain = plainArguments(request: request, body: body, viaGET: viaGET, allowed: feed.subjectArguments)
        else { return nil }
        let subject: SharedPages.Subject
        switch feed {
        case .profile, .entity:
            guard let id = (plain.arguments[feed.subjectArguments.first!] as? String).flatMap(UUID.init(uuidString:)) else { return nil }
            subject = .id(id)
        case .nearby:
            // The function's own bounds (feed_fusion_nearby): outside them it answers 400 itself.
            guard let latitude = plain.arguments["p_lat"] as? Double, let longitude = plain.arguments["p_lng"] as? Double,
                let radius = plain.arguments["p_radius_m"].map({ $0 as? Int }) ?? 5000,
                (-90...90).contains(latitude), (-180...180).contains(longitude), (1...50_000).contains(radius)
            else { return nil }
            subject = .place(latitude: latitude, longitude: longitude, radius: radius)
        }
        return ShareablePage(feed: feed, subject: subject, cursor: plain.cursor, limit: plain.limit)
    }

    /// The limit of a home feed's first page asked plainly: the pages a new post can be put on top
    /// of (`ResponseCache.push`). A page with a cursor, a `select`, filters, a range or a count is
    /// left to be dropped and recomputed.
    static func plainFirstPageLimit(request: Request, body: [UInt8], viaGET: Bool) -> Int? {
        guard let plain = plainArguments(request: request, body: body, viaGET: viaGET, allowed: []), plain.cursor == nil else { return nil }
        return plain.limit
    }
}

extension HTTPField.Name {
    static let cacheStatus = HTTPField.Name("Cache-Status")!
}
