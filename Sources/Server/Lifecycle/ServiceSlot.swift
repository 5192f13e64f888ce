import Hummingbird
import Synchronization

/// Where the routes find the served models once they have loaded. The listener starts before
/// loading so that `/health` can say "loading" (503) meanwhile, as vLLM and llama-server do; every
/// other route answers 503 with `Retry-After` until the models are in place.
public final class ServiceSlot: Sendable {
    private let current = Mutex<ServedModels?>(nil)

    public init(_ service: OpenAIService? = nil) {
        current.withLock { $0 = service.map { ServedModels([$0]) } }
    }

    public init(models: ServedModels) {
        current.withLock { $0 = models }
    }

    public var models: ServedModels? { current.withLock { $0 } }

    /// The first served model's service (the only one on a one-model server).
    public var service: OpenAIService? { models?.services[0] }

    func fill(_ service: OpenAIService) {
        fill(ServedModels([service]))
    }

    func fill(_ models: ServedModels) {
        current.withLock { $0 = models }
    }

    /// Registers the API's routes, each answering "loading" until the slot is filled. Routes
    /// that take a `model` go to the service that request names.
    public func addRoutes(to router: Router<ConnectionContext>) {
        router.post("/v1/chat/completions") { request, context in
            try await self.service(for: request) { service, request in try await service.chatCompletions(request, context) }
        }
        router.post("/v1/completions") { request, context in
            try await self.service(for: request) { service, request in try await service.completions(request, context) }
        }
        router.post("/v1/responses") { request, context in
            try await self.service(for: request) { service, request in try await service.responses(request, context) }
        }
        // The image model is served beside the first model (`--image-model`).
        router.post("/v1/images/generations") { request, context in try await self.loaded().services[0].imageGenerations(request, context) }
        router.get("/v1/adapters") { _, _ in try self.loaded().services[0].adapters() }
        router.get("/v1/models") { _, _ in try self.loaded().models() }
        router.get("/v1/models/**") { _, context in
            try self.loaded().model(named: context.parameters.getCatchAll().joined(separator: "/"))
        }
        router.post("/v1/embeddings") { request, context in
            try await self.service(for: request) { service, request in try await service.utility(request, context, service.embeddings) }
        }
        router.post("/tokenize") { request, context in
            try await self.service(for: request) { service, request in try await service.utility(request, context, service.tokenize) }
        }
        router.post("/detokenize") { request, context in
            try await self.service(for: request) { service, request in try await service.utility(request, context, service.detokenize) }
        }
        // vLLM's route takes no model; `?model=NAME` picks one of several (default: the first).
        router.get("/tokenizer_info") { request, _ in
            try self.loaded().service(named: request.uri.queryParameters.get("model")).tokenizerInfo()
        }
        router.get("/version") { _, _ in try self.loaded().services[0].version() }
        router.get("/health") { _, _ in self.models?.health() ?? Self.loadingHealth }
        router.get("/ready") { _, _ in self.models?.readiness() ?? Self.loadingHealth }
        router.get("/metrics") { request, _ in try self.loaded().metricsResponse(accept: request.headers[.accept]) }
        // The API's description does not depend on the model: it is served while loading too.
        router.get("/openapi.json") { _, _ in OpenAPIDocument.response(modelName: self.service?.engine.servedModel.name) }
    }

    /// Runs `handler` with the service `request` names (see ``ServedModels/service(for:)``).
    private func service(
        for request: Request, _ handler: (OpenAIService, Request) async throws -> Response
    ) async throws -> Response {
        var request = request
        let service = try await loaded().service(for: &request)
        return try await handler(service, request)
    }

    private func loaded() throws(APIError) -> ServedModels {
        guard let models else { throw APIError.unavailable("the model is still loading", retryAfterSeconds: 1) }
        return models
    }

    private static var loadingHealth: Response {
        OpenAIService.json(status: .serviceUnavailable, APIError.unavailable("the model is still loading", retryAfterSeconds: 1).jsonBody)
    }
}
