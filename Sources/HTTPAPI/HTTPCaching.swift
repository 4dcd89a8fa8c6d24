import AppConfig
import CompressNIO
import Database
import FeedCache
import HTTPTypes
import Hummingbird

/// HTTP caching for browsers and CDNs on `/rest/v1`: a strong `ETag` on every successful read with
/// `If-None-Match` → `304`, `Cache-Control` by who is asking, `Vary` on what changes the answer, and
/// gzip for bodies over 1 KB when the client accepts it.
struct HTTPCaching: Sendable {
    let settings: CacheSettings
    static let compressionThreshold = 1024
    /// Every request header that can change a data-API answer.
    static let vary = "Authorization, apikey, Accept, Accept-Profile, Accept-Encoding, Prefer, Range"

    /// Anonymous reads are public data (RLS shows `anon` nothing private): shared caches may keep
    /// them briefly. Anything signed in is private and revalidated; writes are never stored.
    func cacheControl(_ request: Request, role: DatabaseRole, isRead: Bool) -> String {
        guard isRead else { return "no-store" }
        guard role == .anon, request.method == .get || request.method == .head else { return "private, no-cache" }
        return "public, max-age=\(settings.publicMaxAge), s-maxage=\(settings.publicSharedMaxAge), "
            + "stale-while-revalidate=\(settings.publicStaleWhileRevalidate)"
    }

    /// The response for `body`, with validators, caching headers and, when worth it, compression.
    /// `etag` is given when already known (a cached answer computed it once).
    func respond(
        _ request: Request, role: DatabaseRole, isRead: Bool, status: HTTPResponse.Status, headers: HTTPFields,
        body: ByteBuffer?, etag: String? = nil, gzipped: ByteBuffer? = nil
    ) -> Response {
        var headers = headers
        headers[.cacheControl] = cacheControl(request, role: role, isRead: isRead)
        headers[.vary] = Self.vary
        guard var body else {
            return Response(status: status, headers: headers, body: .init())
        }
        let isGET = request.method == .get || request.method == .head
        if isGET, status == .ok {
            let tag = etag ?? CachedResponse.etag(of: body)
            if Self.matches(request.headers[values: .ifNoneMatch], tag) {
                headers[.eTag] = tag
                headers[.contentType] = nil
                headers[.contentRange] = nil
                return Response(status: .notModified, headers: headers, body: .init())
            }
            headers[.eTag] = tag
        }
        if body.readableBytes > Self.compressionThreshold, Self.acceptsGzip(request.headers[values: .acceptEncoding]),
           let compressed = gzipped ?? Self.gzip(body)
        {
            body = compressed
            headers[.contentEncoding] = "gzip"
            // The compressed bytes are another representation: they get their own strong validator.
            if let tag = headers[.eTag] { headers[.eTag] = String(tag.dropLast()) + "-gzip\"" }
        }
        let response = Response(status: status, headers: headers, body: .init(byteBuffer: body))
        return request.method == .head ? response.createHeadResponse() : response
    }

    /// `body` gzipped when it is over the threshold (nil otherwise, or if compression failed).
    static func gzip(_ body: ByteBuffer) -> ByteBuffer? {
        guard body.readableBytes > compressionThreshold else { return nil }
        var input = body
        return try? input.compress(with: .gzip())
    }

    /// `If-None-Match`: `*`, or a list of entity tags (weak comparison, as RFC 9110 asks for this header),
    /// where the gzip variant's tag matches the identity one too.
    static func matches(_ values: [String], _ etag: String) -> Bool {
        let candidates = values.flatMap { $0.split(separator: ",") }.map(\.trimmingSpaces)
        return candidates.contains { candidate in
            if candidate == "*" { return true }
            var tag = candidate.hasPrefix("W/") ? String(candidate.dropFirst(2)) : candidate
            if tag.hasSuffix("-gzip\"") { tag = String(tag.dropLast(6)) + "\"" }
            return tag == etag
        }
    }

    static func acceptsGzip(_ values: [String]) -> Bool {
        values.flatMap { $0.split(separator: ",") }.contains { coding in
            let parts = coding.split(separator: ";").map { $0.trimmingSpaces.lowercased() }
            guard parts.first == "gzip" || parts.first == "*" else { return false }
            // `gzip;q=0` means "not gzip".
            let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return quality > 0
        }
    }
}

/// `/auth/v1` answers carry tokens and account data: no cache may keep them.
struct NoStoreMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            var response = try await next(request, context)
            response.headers[.cacheControl] = "no-store"
            return response
        } catch var error as APIError {
            error.headers[.cacheControl] = "no-store"
            throw error
        }
    }
}
