import DataAPI
import Database
import FeedCache
import Foundation
import HTTPTypes
import Hummingbird

/// `/rest/v1`: the PostgREST-compatible data API over `DataAPIService`.
struct RestController: Sendable {
    let service: DataAPIService
    /// The answer cache in front of chosen RPCs.
    let cachedRPCs: CachedRPCs
    let caching: HTTPCaching
    /// Where accepted `track_metrics` batches are folded into histograms.
    var telemetry: AppTelemetry?
    /// Largest request body the data API reads (bulk inserts).
    static let maximumBodySize = 8 * 1024 * 1024

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.endpoint("/", [.get: { request, context in try await openAPI(request, context) }])
        group.endpoint("/rpc/:function", [
            .get: { request, context in try await handle(request, context, .rpcGET) },
            .post: { request, context in try await handle(request, context, .rpcPOST) },
        ])
        group.endpoint("/:resource", [
            .get: { request, context in try await handle(request, context, .read) },
            .post: { request, context in try await handle(request, context, .insert) },
            .patch: { request, context in try await handle(request, context, .update) },
            .delete: { request, context in try await handle(request, context, .delete) },
        ])
    }

    enum Action { case read, insert, update, delete, rpcGET, rpcPOST }

    func handle(_ request: Request, _ context: AppRequestContext, _ action: Action) async throws -> Response {
        let started = ContinuousClock.now
        let isRPC = action == .rpcGET || action == .rpcPOST
        let function = isRPC ? context.parameters.get("function") ?? "" : ""
        context.trace.update { $0.function = isRPC ? "rpc/" + function : context.parameters.get("resource") ?? "" }
        if isRPC, cachedRPCs.functions.contains(function) {
            // A hit is answered from the key alone: the request is parsed only when the database is asked.
            let body = try await collectBody(request, action)
            let schema = try schema(request, reading: action == .rpcGET)
            let (caller, viaGET, trace) = (context.caller, action == .rpcGET, context.trace)
            // `window`: the home window's own request (a POST), in place of this one.
            @Sendable func compute(as caller: Caller, window: DataRequest? = nil) async throws -> DataResponse {
                var dataRequest = try window ?? parse(request, context, action, body: body)
                dataRequest.resource = function
                let queried = ContinuousClock.now
                defer { trace.update { $0.databaseTime = ContinuousClock.now - queried } }
                do {
                    return try await service.call(dataRequest, caller: caller, viaGET: window == nil && viaGET)
                } catch { throw APIError(error) }
            }
            return try await cachedRPCs.call(
                request, context, schema: schema, function: function, body: body, viaGET: viaGET, caching: caching,
                compute: { try await compute(as: caller) }, computeAnonymous: { try await compute(as: .anonymous) },
                computeHomeWindow: { try await compute(as: caller, window: CachedRPCs.homeWindowRequest(schema: schema)) })
        }
        var dataRequest = try await parse(request, context, action)
        if isRPC { dataRequest.resource = function }
        let parsed = ContinuousClock.now
        let result: DataResponse
        do {
            switch action {
            case .read: result = try await service.read(dataRequest, caller: context.caller)
            case .insert: result = try await service.insert(dataRequest, caller: context.caller)
            case .update: result = try await service.update(dataRequest, caller: context.caller)
            case .delete: result = try await service.delete(dataRequest, caller: context.caller)
            case .rpcGET, .rpcPOST: result = try await service.call(dataRequest, caller: context.caller, viaGET: action == .rpcGET)
            }
        } catch {
            context.trace.update { $0.databaseTime = ContinuousClock.now - parsed }
            throw APIError(error)
        }
        let queried = ContinuousClock.now
        context.trace.update { $0.databaseTime = queried - parsed }
        if function == "track_metrics", result.status < 300 { telemetry?.recordClientMetrics(dataRequest.body) }
        // The writer's own cached feeds go at once; everyone else's when the NOTIFY arrives.
        // Telemetry calls change no feed: a client tracker flushing every few seconds would
        // otherwise empty its user's cache each time.
        // Likes neither: they change counters, which every page shows live (`LiveCounters`). Nor a
        // new post or a follow while the listener is in place: the write waited for it, and it
        // changed exactly the pages it concerns (the author's profile dropped, the homes the post
        // belongs to pushed; the follower's window merged, their other pages dropped).
        let counterOnly = isRPC ? Self.counterFunctions.contains(function) : context.parameters.get("resource") == "post_likes"
        let announcedExactly = service.fences?.isListening == true
            && (isRPC ? Self.exactlyAnnouncedFunctions.contains(function) : context.parameters.get("resource") == "follows")
        if action != .read, action != .rpcGET, !Self.telemetryFunctions.contains(function), !counterOnly, !announcedExactly,
            let user = context.caller.userID
        {
            await cachedRPCs.cache.invalidateEverywhere([.viewer(CacheTag.id(user))])
        }
        var headers = Self.headers(
            result, contentType: Self.contentType(dataRequest), location: dataRequest.prefer.returning != .representation)
        headers[.serverTiming] = Self.serverTiming(started: started, parsed: parsed, queried: queried)
        return caching.respond(
            request, role: context.caller.role, isRead: action == .read || action == .rpcGET,
            status: HTTPResponse.Status(code: result.status), headers: headers, body: result.body.map { ByteBuffer(string: $0) })
    }

    /// The headers a data-API answer decides (`Location` only when the body does not already show the row).
    static func headers(_ result: DataResponse, contentType: String, location: Bool) -> HTTPFields {
        var headers: HTTPFields = [:]
        if result.body != nil { headers[.contentType] = contentType }
        if let range = result.contentRange { headers[.contentRange] = range }
        if location, let value = result.location { headers[.location] = value }
        return headers
    }

    static func contentType(_ dataRequest: DataRequest) -> String {
        dataRequest.csv ? "text/csv; charset=utf-8"
            : dataRequest.singleObject ? singleObjectContentType : "application/json; charset=utf-8"
    }

    /// RPCs that write only telemetry (no feed can change through them).
    static let telemetryFunctions: Set<String> = ["log_usage_event_v2", "log_usage_events", "track_metrics"]

    /// RPCs that change only counters (migration 0020 announces them as such).
    static let counterFunctions: Set<String> = ["like_post", "unlike_post"]
    static let exactlyAnnouncedFunctions: Set<String> = [
        "create_post", "follow_profile", "unfollow_profile", "follow_entity", "unfollow_entity",
    ]

    static let singleObjectMediaType = "application/vnd.pgrst.object+json"
    static let singleObjectContentType = singleObjectMediaType + "; charset=utf-8"

    static func serverTiming(started: ContinuousClock.Instant, parsed: ContinuousClock.Instant, queried: ContinuousClock.Instant) -> String {
        let rendered = ContinuousClock.now
        return [
            "parse;dur=\(milliseconds(parsed - started))", "db;dur=\(milliseconds(queried - parsed))",
            "render;dur=\(milliseconds(rendered - queried))", "total;dur=\(milliseconds(rendered - started))",
        ].joined(separator: ", ")
    }

    /// The framework-free request: profile, query parameters, Prefer, Range, Accept, body.
    func parse(_ request: Request, _ context: AppRequestContext, _ action: Action) async throws -> DataRequest {
        try parse(request, context, action, body: try await collectBody(request, action))
    }

    /// The request body of a write or a POST RPC call (none for reads).
    func collectBody(_ request: Request, _ action: Action) async throws -> [UInt8] {
        // The Python client sends `{}` with DELETE: a body there means nothing.
        guard action != .read, action != .rpcGET, action != .delete else { return [] }
        var buffer = try await request.body.collect(upTo: Self.maximumBodySize)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    /// The schema a request addresses (`Accept-Profile` for reads, `Content-Profile` for writes).
    func schema(_ request: Request, reading: Bool) throws -> String {
        let schemas = service.store.schemas
        let schema = request.headers[reading ? HTTPField.Name.acceptProfile : HTTPField.Name.contentProfile] ?? schemas[0]
        guard schemas.contains(schema) else {
            throw APIError(
                .notAcceptable, code: "PGRST106", message: "The schema must be one of the following: \(schemas.joined(separator: ", "))")
        }
        return schema
    }

    func parse(_ request: Request, _ context: AppRequestContext, _ action: Action, body: [UInt8]) throws -> DataRequest {
        let schema = try schema(request, reading: action == .read || action == .rpcGET)
        var range: (offset: Int, limit: Int?)?
        if let header = request.headers[.range] {
            let bounds = header.replacingOccurrences(of: "items=", with: "").split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 2, let first = Int(bounds[0]), first >= 0 else {
                throw APIError(.rangeNotSatisfiable, code: "PGRST103", message: "Requested range not satisfiable: '\(header)'")
            }
            if let last = Int(bounds[1]) {
                guard last >= first else {
                    throw APIError(.rangeNotSatisfiable, code: "PGRST103", message: "Requested range not satisfiable: '\(header)'")
                }
                range = (first, last - first + 1)
            } else {
                range = (first, nil)
            }
        }
        let accept = request.headers[.accept] ?? "*/*"
        var dataRequest = DataRequest(
            schema: schema, resource: context.parameters.get("resource") ?? "",
            query: Self.queryItems(request.uri.query ?? ""),
            prefer: Prefer(headerValues: request.headers[values: .prefer]),
            range: range, singleObject: accept.contains(Self.singleObjectMediaType), body: body)
        dataRequest.csv = action == .read && accept.contains("text/csv")
        dataRequest.method = request.method.rawValue
        dataRequest.path = request.uri.path
        dataRequest.headersJSON = RequestText.jsonObject(request.headers.map { ($0.name.canonicalName, $0.value) })
        return dataRequest
    }

    /// Form-decoded query items in order: `+` is a space, then percent-decoding.
    static func queryItems(_ query: String) -> [(name: String, value: String)] {
        query.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String { RequestText.formDecoded(text) ?? String(text) }
            guard let name = parts.first, !name.isEmpty else { return nil }
            return (decode(name), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    static func milliseconds(_ duration: Duration) -> String {
        // Tenths of a millisecond in integer arithmetic: String(format:) shows up in profiles.
        let tenths = duration.components.seconds * 10_000 + duration.components.attoseconds / 100_000_000_000_000
        return "\(tenths / 10).\(tenths % 10)"
    }

    func openAPI(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        guard let cache = service.store.current else {
            throw APIError(.internalServerError, code: "PGRST002", message: "the schema cache is not loaded yet")
        }
        return caching.respond(
            request, role: context.caller.role, isRead: true, status: .ok, headers: [.contentType: "application/openapi+json; charset=utf-8"],
            body: ByteBuffer(bytes: try OpenAPIDocument.make(from: cache, schema: cache.schemas[0])))
    }
}

extension HTTPField.Name {
    static let acceptProfile = HTTPField.Name("Accept-Profile")!
    static let contentProfile = HTTPField.Name("Content-Profile")!
    static let prefer = HTTPField.Name("Prefer")!
    static let range = HTTPField.Name("Range")!
    static let contentRange = HTTPField.Name("Content-Range")!
    static let serverTiming = HTTPField.Name("Server-Timing")!
}
