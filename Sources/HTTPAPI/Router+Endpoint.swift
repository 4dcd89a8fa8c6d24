import Hummingbird

/// A route handler that builds its whole response.
public typealias EndpointHandler<Context: RequestContext> = @Sendable (Request, Context) async throws -> Response

extension RouterMethods {
    /// Registers the handlers of one path and answers every other method there with
    /// `405 Method Not Allowed` and an `Allow` header, rather than the router's plain 404.
    @discardableResult
    public func endpoint(_ path: RouterPath, _ handlers: [HTTPRequest.Method: EndpointHandler<Context>]) -> Self {
        var allowed = handlers.keys.sorted { $0.rawValue < $1.rawValue }
        if handlers[.get] != nil && handlers[.head] == nil {
            // HEAD is GET without the body.
            let get = handlers[.get]!
            on(path, method: .head) { request, context in try await get(request, context).createHeadResponse() }
            allowed.append(.head)
        }
        for (method, handler) in handlers {
            on(path, method: method, use: handler)
        }
        let allowedMethods = allowed
        let refused: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete]
        for method in refused where !allowedMethods.contains(method) {
            on(path, method: method) { request, _ -> Response in
                throw APIError.methodNotAllowed(request.method, allowed: allowedMethods)
            }
        }
        return self
    }
}
