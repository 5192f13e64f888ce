/// What the images API needs of whatever generates its images: a diffusion engine in this process,
/// or a front end that sends each image to a diffusion worker process. The API and a front end
/// see only this protocol and plain values: the model stays where the engine runs.
///
/// ```swift
/// let service: any ImageGenerationService = engine
/// let request = ImageRequest(ImageGenerationParameters(prompt: "a cat", steps: 20, seed: 1))
/// for try await event in try service.submit([request]) { … }
/// ```
public protocol ImageGenerationService: Sendable {
    /// The model's default side in pixels (`size: "auto"`).
    var defaultSize: Int { get }
    /// The output size of `request` in pixels (``ImageSizeRule/checkedOutputSize(width:height:initImage:maxPixels:)``),
    /// or why it cannot be generated.
    func outputSize(_ request: ImageRequest) throws(ImageGenerationError) -> (height: Int, width: Int)
    /// Largest image, width × height in pixels.
    var maxPixels: Int { get }
    /// The served pipeline's `guidance_scale` for requests that give none; nil while no model has registered.
    var defaultGuidanceScale: Float? { get }
    /// The LoRAs and ControlNets requests may name.
    var adapters: [AdapterListing] { get }
    /// Queues one image per request (OpenAI's `n` images are `n` requests); events of all of them
    /// come on the returned stream, which finishes after the last image. Ending the iteration (the
    /// client left) cancels the images still queued or running. An unregistered add-on name is
    /// ``ImageGenerationError/adapterNotFound(_:param:)``.
    func submit(_ requests: [ImageRequest]) throws(ImageGenerationError) -> AsyncThrowingStream<ImageGenerationEvent, any Error>
    func statistics() -> ImageEngineStatistics
    func shutdown(gracePeriod: Duration) async
}

/// The kinds of add-on an image request may name.
public enum AdapterKind: String, Sendable, CaseIterable {
    case lora
    case controlNet = "controlnet"
}

/// An add-on requests may name, as `GET /v1/adapters` lists it.
public struct AdapterListing: Sendable, Hashable {
    public var name: String
    public var kind: AdapterKind
    /// Whether it is loaded in memory now; nil where the server does not know (diffusion workers hold it).
    public var cached: Bool?

    public init(name: String, kind: AdapterKind, cached: Bool?) {
        self.name = name
        self.kind = kind
        self.cached = cached
    }
}
