import Foundation
import Hummingbird
import NIOCore
import ServingAPI
import Synchronization

/// The OpenAI-compatible API in front of an ``InferenceEngine``: chat and text completions (JSON or
/// SSE), models, health and Prometheus metrics.
///
/// ```swift
/// let service = try OpenAIService(engine: engine, configuration: ServerConfiguration())
/// let router = Router(context: ConnectionContext.self)
/// ServiceSlot(service).addRoutes(to: router)  // or ServiceSlot(models: ServedModels([a, b]))
/// ```
public final class OpenAIService: Sendable {
    public let engine: any InferenceEngine
    public let configuration: ServerConfiguration
    public let metrics: ServerMetrics
    /// The diffusion model served by `/v1/images/generations`, when there is one.
    public let imageModel: ServedImageModel?
    let prompts: ChatPromptBuilder?
    let images: ImageLoader
    let logprobs: LogprobFormatter
    let fetcher: MediaFetcher
    private let drainingFlag = Atomic<Bool>(false)

    public init(engine: any InferenceEngine, configuration: ServerConfiguration, metrics: ServerMetrics? = nil,
                imageModel: ServedImageModel? = nil) throws(APIError) {
        self.engine = engine
        self.imageModel = imageModel
        self.configuration = configuration
        let model = engine.servedModel
        let metrics = metrics ?? ServerMetrics(modelName: model.name)
        self.metrics = metrics
        prompts = try (configuration.chatTemplate ?? model.chatTemplate).map { source throws(APIError) in try ChatPromptBuilder(source: source, model: model) }
        fetcher = MediaFetcher(
            allowedDomains: configuration.allowedMediaDomains, maxBytes: configuration.mediaMaxBytes,
            timeout: configuration.mediaTimeout)
        images = ImageLoader(
            limits: configuration.imageLimits, fetcher: fetcher, metrics: metrics,
            decoded: DecodedImageCache(capacityBytes: configuration.decodedImageCacheBytes))
        logprobs = LogprobFormatter(tokenizer: model.tokenizer)
    }

    /// True once shutdown began: `/health` answers 503 so load balancers stop sending traffic.
    public var isDraining: Bool { drainingFlag.load(ordering: .relaxed) || engine.state != .ready }

    /// Marks the server as draining and lets in-flight requests finish for up to the drain timeout.
    public func drain() async {
        drainingFlag.store(true, ordering: .relaxed)
        async let images: Void? = imageModel?.engine.shutdown(gracePeriod: configuration.drainTimeout)
        await engine.shutdown(gracePeriod: configuration.drainTimeout)
        _ = await images
        try? await fetcher.shutdown()
    }

    func chatCompletions(_ request: Request, _ context: ConnectionContext) async throws -> Response {
        try await respond(request, watch: ClientWatch(channel: context.channel), chatCompletions)
    }

    func completions(_ request: Request, _ context: ConnectionContext) async throws -> Response {
        try await respond(request, watch: ClientWatch(channel: context.channel), completions)
    }

    func responses(_ request: Request, _ context: ConnectionContext) async throws -> Response {
        try await respond(request, watch: ClientWatch(channel: context.channel), responses)
    }

    /// A route that reads a JSON body but queues nothing (`/tokenize`, `/detokenize`, `/v1/embeddings`).
    func utility(
        _ request: Request, _ context: ConnectionContext,
        _ handler: @escaping @Sendable (Data, ContinuousClock.Instant, ClientWatch) async throws -> Response
    ) async throws -> Response {
        try await respond(request, watch: ClientWatch(channel: context.channel), admitting: false, handler)
    }

    /// Reads the body and runs `handler` on it, with the `ClientWatch` a handler that waits for the
    /// whole generation needs. Errors close the connection: their request's body may be unread.
    func respond(
        _ request: Request, watch: ClientWatch, admitting: Bool = true,
        _ handler: @escaping @Sendable (Data, ContinuousClock.Instant, ClientWatch) async throws -> Response
    ) async throws -> Response {
        let arrival = ContinuousClock.now
        do {
            // Under overload, refuse before the body is read, parsed and its images decoded.
            if admitting { do { try engine.checkAdmission() } catch {
                metrics.recordRejection()
                throw APIError(error)
            } }
            var request = request
            var buffer = try await Self.collectBody(of: &request, limit: configuration.maxBodyBytes)
            return try await handler(buffer.readData(length: buffer.readableBytes) ?? Data(), arrival, watch)
        } catch let error as APIError {
            var response = error.response
            response.headers[.connection] = "close"
            return response
        }
    }

    /// The whole body, 413 above `limit`; it stays readable from `request` afterwards.
    static func collectBody(of request: inout Request, limit: Int) async throws -> ByteBuffer {
        do {
            return try await request.collectBody(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw APIError.bodyTooLarge(limit: limit)
        } catch is NIOTooManyBytesError {
            throw APIError.bodyTooLarge(limit: limit)
        }
    }

    func checkModel(_ name: String) throws(APIError) {
        guard name == engine.servedModel.name else { throw .modelNotFound(name) }
    }

    /// Decodes a chat or completion body, checks its model and builds its settings with its
    /// structured-output fields applied.
    func decodeCompletionBody<Body: CompletionBody>(_ type: Body.Type, from body: Data) throws -> (Body, GenerationSettings) {
        let request = try RequestDecoding.decode(Body.self, from: body, fields: Body.fields)
        try checkModel(request.model)
        var settings = try request.settings()
        try settings.constrain(request.structured, body: body, vocabularySize: engine.servedModel.tokenizer.vocabularySize)
        return (request, settings)
    }

    /// Refuses a call of `count` sequences (prompts × `n`) that is larger than the engine's queue:
    /// retrying cannot help it, so it gets a 400, not a 503.
    func checkFits(sequences count: Int, param: String) throws(APIError) {
        let capacity = engine.queueCapacity.requests
        guard count <= capacity else {
            throw .invalidRequest(
                "this request needs \(count) sequences (prompts × n), more than the \(capacity) this server queues at once",
                param: param, code: "request_too_large")
        }
    }

    /// Admits the requests, counting refusals for back-pressure in the metrics, with a tracker that
    /// records each one's choice (arrived at `arrival`) into the metrics. Requests whose prompts
    /// together exceed the engine's token queue are refused as too large (400).
    func submit(_ requests: [InferenceRequest], arrival: ContinuousClock.Instant) throws(APIError) -> (ChoiceEvents, ChoiceTracker) {
        let tokens = requests.reduce(0) { total, request in
            if case let .tokens(ids) = request.prompt { total + ids.count } else { total }
        }
        let capacity = engine.queueCapacity.tokens
        guard tokens <= capacity else {
            throw .invalidRequest(
                "this request's prompts have \(tokens) tokens in all, more than the \(capacity) this server queues at once",
                code: "request_too_large")
        }
        do {
            let events = try ChoiceEvents.submit(requests, to: engine)
            return (events, ChoiceTracker(count: requests.count, arrival: arrival, metrics: metrics))
        } catch {
            if error.status == .serviceUnavailable { metrics.recordRejection() }
            throw error
        }
    }

    /// Submits a text call's requests under a fresh id (`idPrefix` + random) and creation time, then
    /// answers it either as server-sent events written by `streamed` or whole, built by `whole`
    /// (after which the choices are recorded into the metrics).
    func answer(
        _ requests: [InferenceRequest], arrival: ContinuousClock.Instant, idPrefix: String, stream: Bool,
        streamed: @escaping @Sendable (ChoiceEvents, any ResponseBodyWriter, ChoiceTracker, _ id: String, _ created: Int) async throws -> Void,
        whole: (ChoiceEvents, ChoiceTracker, _ id: String, _ created: Int) async throws -> Response
    ) async throws -> Response {
        let (events, tracker) = try submit(requests, arrival: arrival)
        let id = Self.requestID(idPrefix)
        let created = Int(Date().timeIntervalSince1970)
        if stream {
            return tracker.stream { writer in try await streamed(events, writer, tracker, id, created) }
        }
        defer { tracker.close() }
        return try await whole(events, tracker, id, created)
    }

    /// The image model as `/v1/models` lists it (no context length: it takes one 77-token prompt).
    var imageModelObject: [String: Any]? {
        imageModel.map {
            ["id": $0.name, "object": "model", "created": Int($0.createdAt.timeIntervalSince1970), "owned_by": "tessera", "root": $0.name]
        }
    }

    /// This model's entry in `GET /v1/models`.
    var modelObject: [String: Any] {
        let model = engine.servedModel
        return [
            "id": model.name, "object": "model", "created": Int(model.createdAt.timeIntervalSince1970),
            "owned_by": "tessera", "root": model.name, "max_model_len": model.contextLength,
        ]
    }

    static func jsonObject(_ object: [String: Any]) -> Response {
        json(status: .ok, (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    /// Why the server cannot take every request now: draining, or the engine's reason (a stage
    /// with no live worker); nil when it can.
    var unavailableReason: String? {
        isDraining ? "the server is draining" : engine.unavailableReason
    }

    /// `GET /health`: 200 with no body while the server can serve, else 503 with the reason.
    func health() -> Response { probe(Response(status: .ok)) }

    /// `GET /ready`: `{"status": "ready"}`, or 503 with the reason, for load balancers and readiness probes.
    func readiness() -> Response { probe(Self.jsonObject(["status": "ready"])) }

    private func probe(_ ready: Response) -> Response {
        guard let reason = unavailableReason else { return ready }
        return Self.json(status: .serviceUnavailable, APIError.unavailable(reason, retryAfterSeconds: nil).jsonBody)
    }

    static func json(status: HTTPResponse.Status, _ data: Data) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func json(_ value: some Encodable) throws(APIError) -> Response {
        do {
            return json(status: .ok, try JSONEncoder.api.encode(value))
        } catch {
            throw .internalError("cannot encode the response: \(error)")
        }
    }

    static func requestID(_ prefix: String) -> String {
        prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    static func error(from error: any Error) -> APIError {
        switch error {
        case let error as APIError: error
        case let error as EngineError: APIError(error)
        default: .internalError("\(error)")
        }
    }
}
