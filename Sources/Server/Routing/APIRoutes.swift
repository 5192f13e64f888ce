import Hummingbird

/// Every route Tessera serves with its methods: the one list that 404s name, 405s take their
/// `Allow` from, and `OPTIONS` answers with.
enum APIRoutes {
    struct Route: Sendable {
        var path: String
        var methods: [HTTPRequest.Method]
    }

    static let all: [Route] = [
        Route(path: "/v1/chat/completions", methods: [.post]),
        Route(path: "/v1/completions", methods: [.post]),
        Route(path: "/v1/responses", methods: [.post]),
        Route(path: "/v1/images/generations", methods: [.post]),
        Route(path: "/v1/adapters", methods: [.get, .head]),
        Route(path: "/v1/models", methods: [.get, .head]),
        Route(path: "/v1/models/{model}", methods: [.get, .head]),
        Route(path: "/v1/embeddings", methods: [.post]),
        Route(path: "/tokenize", methods: [.post]),
        Route(path: "/detokenize", methods: [.post]),
        Route(path: "/tokenizer_info", methods: [.get, .head]),
        Route(path: "/version", methods: [.get, .head]),
        Route(path: "/health", methods: [.get, .head]),
        Route(path: "/ready", methods: [.get, .head]),
        Route(path: "/metrics", methods: [.get, .head]),
        Route(path: "/openapi.json", methods: [.get, .head]),
    ]

    /// The route whose pattern matches `path` (`{model}` matches the rest of the path, since model names may hold `/`).
    static func route(for path: String) -> Route? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        return all.first { route in
            let pattern = route.path.split(separator: "/")
            if pattern.last == "{model}" { return parts.count >= pattern.count && zip(pattern.dropLast(), parts).allSatisfy { $0 == $1 } }
            return pattern.count == parts.count && zip(pattern, parts).allSatisfy { $0 == $1 }
        }
    }

    static func allow(_ route: Route) -> String { (route.methods + [.options]).map(\.rawValue).joined(separator: ", ") }

    /// 404 for a path Tessera does not serve, naming it and listing what it does serve.
    static func notFound(_ method: HTTPRequest.Method, _ path: String) -> APIError {
        APIError(
            status: .notFound,
            message: "\(method.rawValue) \(path) is not a route of this server; Tessera serves "
                + all.map { "\($0.methods[0].rawValue) \($0.path)" }.joined(separator: ", "),
            type: "invalid_request_error", code: "not_found")
    }

    /// 405 for a served path asked with another method.
    static func methodNotAllowed(_ method: HTTPRequest.Method, _ route: Route) -> APIError {
        APIError(
            status: .methodNotAllowed,
            message: "\(route.path) does not accept \(method.rawValue); use \(route.methods.map(\.rawValue).joined(separator: " or "))",
            type: "invalid_request_error", code: "method_not_allowed")
    }
}

/// Gives every answer an `x-request-id` (the client's, else a new one) and CORS headers for allowed
/// origins, answers `OPTIONS`, and turns the router's bare 404 into an OpenAI error object: a 404
/// naming the route and what Tessera offers, or a 405 with `Allow` when the path exists.
struct APIErrorMiddleware: RouterMiddleware {
    typealias Context = ConnectionContext

    /// Origins allowed to call from browsers (`*` for any); empty turns CORS off.
    let allowedOrigins: [String]

    static let requestID = HTTPFields.Element.Name("x-request-id")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let id = request.headers[Self.requestID].flatMap { $0.isEmpty || $0.count > 200 ? nil : $0 }
            ?? OpenAIService.requestID("req-")
        var response: Response
        let route = APIRoutes.route(for: request.uri.path)
        if request.method == .options {
            response = Response(status: route == nil ? .notFound : .noContent)
            if let route { response.headers[.allow] = APIRoutes.allow(route) } else {
                response = APIRoutes.notFound(request.method, request.uri.path).response
            }
        } else {
            do {
                response = try await next(request, context)
            } catch let error as HTTPError where error.status == .notFound {
                if let route {
                    response = APIRoutes.methodNotAllowed(request.method, route).response
                    response.headers[.allow] = APIRoutes.allow(route)
                } else {
                    response = APIRoutes.notFound(request.method, request.uri.path).response
                }
            }
        }
        response.headers[Self.requestID] = id
        addCORS(to: &response, for: request, route: route)
        return response
    }

    private func addCORS(to response: inout Response, for request: Request, route: APIRoutes.Route?) {
        guard let origin = request.headers[.origin], allowedOrigins.contains("*") || allowedOrigins.contains(origin) else { return }
        response.headers[.accessControlAllowOrigin] = allowedOrigins.contains("*") ? "*" : origin
        response.headers[.vary] = "Origin"
        response.headers[.accessControlExposeHeaders] = "x-request-id"
        if request.method == .options, let route {
            response.headers[.accessControlAllowMethods] = APIRoutes.allow(route)
            response.headers[.accessControlAllowHeaders] = request.headers[.accessControlRequestHeaders] ?? "authorization, content-type"
            response.headers[.accessControlMaxAge] = "600"
        }
    }
}
