import HTTPTypes
import Hummingbird
import NIOCore
import WebAssets

/// Serves files the server ships (the dashboard's, the app's): revalidated on every load (`no-cache`
/// with a strong ETag, so a new server's files are seen at once and an unchanged one costs a 304),
/// gzipped once at start-up for browsers that take it.
struct ShippedFiles: Sendable {
    private let files: [String: (asset: StaticAssets.Asset, gzipped: ByteBuffer?)]

    init(names: [String], asset: (String) -> StaticAssets.Asset?) {
        var files: [String: (asset: StaticAssets.Asset, gzipped: ByteBuffer?)] = [:]
        for name in names {
            guard let asset = asset(name) else { continue }
            files[name] = (asset, HTTPCaching.gzip(ByteBuffer(bytes: asset.bytes)))
        }
        self.files = files
    }

    func contains(_ name: String) -> Bool { files[name] != nil }

    func response(_ name: String, _ request: Request) throws -> Response {
        guard let file = files[name] else { throw APIError.notFound(path: request.uri.path) }
        let gzip = file.gzipped != nil && HTTPCaching.acceptsGzip(request.headers[values: .acceptEncoding])
        // The compressed bytes are another representation: they get their own strong validator.
        let etag = gzip ? String(file.asset.etag.dropLast()) + "-gzip\"" : file.asset.etag
        var headers: HTTPFields = [.eTag: etag, .cacheControl: "no-cache", .vary: "Accept-Encoding"]
        if HTTPCaching.matches(request.headers[values: .ifNoneMatch], etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = file.asset.contentType
        if gzip { headers[.contentEncoding] = "gzip" }
        let body = gzip ? file.gzipped! : ByteBuffer(bytes: file.asset.bytes)
        let response = Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
        return request.method == .head ? response.createHeadResponse() : response
    }
}

/// Security headers on every response of the server's own pages: the strict Content-Security-Policy
/// (own scripts and styles only, no framing), no sniffing, no referrer; never stored unless the
/// route said otherwise. Errors get them too (as PostgREST-shaped JSON).
struct PageSecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = ErrorBody.response(for: error, path: request.uri.path)
        }
        response.headers[.contentSecurityPolicy] = StaticAssets.contentSecurityPolicy
        response.headers[.xFrameOptions] = "DENY"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "no-referrer"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

extension HTTPField.Name {
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
