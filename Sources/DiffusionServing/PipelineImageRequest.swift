import Diffusion
import ServingAPI

/// One image as ``DiffusionEngine`` queues it: the pipeline request (prompt, size, steps, seed,
/// scheduler, init image, and what only a pipeline in this process takes: a CFG-split peer,
/// ControlNets already resolved, e.g. those a `controlnet` worker runs) with the add-ons still
/// named as the server registered them (``AdapterRegistry``). The engine resolves the names when
/// it admits the image and fills the request's own `loras` and `controlNets` from them.
///
/// ```swift
/// let image = PipelineImageRequest(TextToImageRequest(prompt: "a fox", steps: 20, seed: 1),
///                                  loras: [LoRAUse(name: "watercolor", scale: 0.8)],
///                                  controlNets: [ControlNetUse(name: "canny", image: edges, scale: 0.9)])
/// ```
public struct PipelineImageRequest: Sendable {
    public var request: TextToImageRequest
    public var loras: [LoRAUse]
    public var controlNets: [ControlNetUse]
    public var previews: ImagePreviews

    public init(_ request: TextToImageRequest, loras: [LoRAUse] = [], controlNets: [ControlNetUse] = [], previews: ImagePreviews = ImagePreviews()) {
        self.request = request
        self.loras = loras
        self.controlNets = controlNets
        self.previews = previews
    }

    /// The pipeline request of an API request, its add-ons still by name.
    public init(_ image: ImageRequest) {
        var request = TextToImageRequest(image.parameters, scheduler: image.scheduler, initialLatents: image.initialLatents, initImage: image.initImage)
        request.schedulerOverrides = image.schedulerOverrides
        self.init(request, loras: image.loras, controlNets: image.controlNets, previews: image.previews)
    }
}

extension DiffusionEngine {
    /// Queues images without add-ons.
    public func submit(_ requests: [TextToImageRequest]) throws(ImageGenerationError) -> AsyncThrowingStream<ImageGenerationEvent, any Error> {
        try submit(requests.map { PipelineImageRequest($0) })
    }
}
