import Diffusion

/// What the images API needs of whatever generates its images: the single-process
/// ``DiffusionEngine``, or a front end that sends each image to a diffusion worker process.
///
/// ```swift
/// let service: any ImageGenerationService = DiffusionEngine(pipeline: pipeline)
/// for try await event in try service.submit([TextToImageRequest(prompt: "a cat", steps: 20, seed: 1)]) { … }
/// ```
public protocol ImageGenerationService: Sendable {
    /// The model's default side in pixels (`size: "auto"`).
    var defaultSize: Int { get }
    /// The output size of `request` in pixels, or why it cannot be generated.
    func outputSize(_ request: TextToImageRequest) throws(DiffusionError) -> (height: Int, width: Int)
    /// Largest image, width × height in pixels.
    var maxPixels: Int { get }
    /// The served pipeline's `guidance_scale` for requests that give none
    /// (``StableDiffusionPipeline/defaultGuidanceScale``); nil while no model has registered.
    var defaultGuidanceScale: Float? { get }
    /// The LoRAs and ControlNets requests may name.
    var adapters: [AdapterListing] { get }
    /// Queues one image per request; see ``DiffusionEngine/submit(_:)-([ImageRequest])``.
    func submit(_ requests: [ImageRequest]) throws(ImageGenerationError) -> AsyncThrowingStream<ImageGenerationEvent, any Error>
    func statistics() -> ImageEngineStatistics
    func shutdown(gracePeriod: Duration) async
}

/// An add-on requests may name, as `GET /v1/adapters` lists it.
public struct AdapterListing: Sendable, Hashable {
    public var name: String
    public var kind: AdapterRegistry.Kind
    /// Whether it is loaded in memory now; nil where the server does not know (diffusion workers hold it).
    public var cached: Bool?

    public init(name: String, kind: AdapterRegistry.Kind, cached: Bool?) {
        self.name = name
        self.kind = kind
        self.cached = cached
    }
}

extension ImageGenerationService {
    /// Queues images without add-ons.
    public func submit(_ requests: [TextToImageRequest]) throws(ImageGenerationError) -> AsyncThrowingStream<ImageGenerationEvent, any Error> {
        try submit(requests.map { ImageRequest($0) })
    }
}

extension DiffusionEngine: ImageGenerationService {
    public var defaultSize: Int { pipeline.defaultSize }
    public var maxPixels: Int { config.maxPixels }
    public var defaultGuidanceScale: Float? { pipeline.defaultGuidanceScale }
    public var adapters: [AdapterListing] {
        registry.entries.map { AdapterListing(name: $0.name, kind: $0.kind, cached: registry.isCached($0)) }
    }

    public func outputSize(_ request: TextToImageRequest) throws(DiffusionError) -> (height: Int, width: Int) {
        try pipeline.outputSize(request)
    }
}
