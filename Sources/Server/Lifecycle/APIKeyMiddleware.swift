import Hummingbird

/// Requires `Authorization: Bearer <key>` with one of the server's API keys (`--api-key`,
/// `TESSERA_API_KEY`), answering 401 with an OpenAI error object otherwise, as vLLM's `--api-key`.
/// The probes (`/health`, `/ready`, `/metrics`) stay open for load balancers and scrapers unless
/// `protectsProbes` is set; CORS preflights (`OPTIONS`) are always answered.
///
/// ```swift
/// router.middlewares.add(APIKeyMiddleware(keys: ["sk-one", "sk-two"], protectsProbes: false))
/// ```
public struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: [[UInt8]]
    let protectsProbes: Bool

    static var probes: Set<String> { ["/health", "/ready", "/metrics"] }

    public init(keys: [String], protectsProbes: Bool) {
        self.keys = keys.map { Array($0.utf8) }
        self.protectsProbes = protectsProbes
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // CORS preflights carry no credentials; the request they announce does.
        if request.method == .options || !protectsProbes && Self.probes.contains(request.uri.path) {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw Self.refusal("missing API key: send it as 'Authorization: Bearer <key>'")
        }
        let given = Array(header.utf8.dropFirst("Bearer ".utf8.count))
        // Every key is compared in full, so the time taken tells nothing about how much matched.
        var matched = false
        for key in keys { matched = Self.constantTimeEqual(key, given) || matched }
        guard matched else {
            throw Self.refusal("incorrect API key provided")
        }
        return try await next(request, context)
    }

    static func refusal(_ message: String) -> APIError {
        APIError(status: .unauthorized, message: message, type: "invalid_request_error", code: "invalid_api_key")
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}
