import ServingAPI

/// The engine as the images API sees it: API requests become pipeline requests
/// (``PipelineImageRequest/init(_:)``), whose named add-ons the engine resolves when it admits them.
extension DiffusionEngine: ImageGenerationService {
    public var defaultSize: Int { pipeline.defaultSize }
    public var maxPixels: Int { config.maxPixels }
    public var defaultGuidanceScale: Float? { pipeline.defaultGuidanceScale }
    public var adapters: [AdapterListing] {
        registry.entries.map { AdapterListing(name: $0.name, kind: $0.kind, cached: registry.isCached($0)) }
    }

    public func outputSize(_ request: ImageRequest) throws(ImageGenerationError) -> (height: Int, width: Int) {
        try pipeline.sizeRule.checkedOutputSize(width: request.width, height: request.height, initImage: request.initImage, maxPixels: config.maxPixels)
    }

    public func submit(_ requests: [ImageRequest]) throws(ImageGenerationError) -> AsyncThrowingStream<ImageGenerationEvent, any Error> {
        try submit(requests.map { PipelineImageRequest($0) })
    }
}
