import Hummingbird
import Synchronization

/// Where the routes find the ``OpenAIService`` once the model has loaded. The listener starts
/// before loading so that `/health` can say "loading" (503) meanwhile, as vLLM and llama-server do;
/// every other route answers 503 with `Retry-After` until the service is in place.
public final class ServiceSlot: Sendable {
    private let current = Mutex<OpenAIService?>(nil)

    public init(_ service: OpenAIService? = nil) {
        current.withLock { $0 = service }
    }

    public var service: OpenAIService? { current.withLock { $0 } }

    func fill(_ service: OpenAIService) {
        current.withLock { $0 = service }
    }

    /// Registers the API's routes, each answering "loading" until the slot is filled.
    public func addRoutes(to router: Router<ConnectionContext>) {
        router.post("/v1/chat/completions") { request, context in try await self.loaded().chatCompletions(request, context) }
        router.post("/v1/completions") { request, context in try await self.loaded().completions(request, context) }
        router.post("/v1/responses") { request, context in try await self.loaded().responses(request, context) }
        router.get("/v1/models") { _, _ in try self.loaded().models() }
        router.get("/v1/models/**") { _, context in
            try self.loaded().model(named: context.parameters.getCatchAll().joined(separator: "/"))
        }
        router.post("/v1/embeddings") { request, context in
            let service = try self.loaded()
            return try await service.utility(request, context, service.embeddings)
        }
        router.post("/tokenize") { request, context in
            let service = try self.loaded()
            return try await service.utility(request, context, service.tokenize)
        }
        router.post("/detokenize") { request, context in
            let service = try self.loaded()
            return try await service.utility(request, context, service.detokenize)
        }
        router.get("/tokenizer_info") { _, _ in try self.loaded().tokenizerInfo() }
        router.get("/version") { _, _ in try self.loaded().version() }
        router.get("/health") { _, _ in self.service?.health() ?? Self.loadingHealth }
        router.get("/ready") { _, _ in self.service?.readiness() ?? Self.loadingHealth }
        router.get("/metrics") { request, _ in try self.loaded().metricsResponse(accept: request.headers[.accept]) }
        // The API's description does not depend on the model: it is served while loading too.
        router.get("/openapi.json") { _, _ in OpenAPIDocument.response(modelName: self.service?.engine.servedModel.name) }
    }

    private func loaded() throws(APIError) -> OpenAIService {
        guard let service else { throw APIError.unavailable("the model is still loading", retryAfterSeconds: 1) }
        return service
    }

    private static var loadingHealth: Response {
        OpenAIService.json(status: .serviceUnavailable, APIError.unavailable("the model is still loading", retryAfterSeconds: 1).jsonBody)
    }
}
