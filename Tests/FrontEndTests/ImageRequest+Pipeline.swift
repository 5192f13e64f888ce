import Diffusion
import FrontEnd
import ServingAPI

/// These tests build their images as pipeline requests, to compare what the cluster serves with
/// what the pipeline makes of the same request in this process.
extension ImageRequest {
    /// The API request of `request` (its prompt, size, steps, seed, scheduler and init image).
    init(_ request: TextToImageRequest, loras: [LoRAUse] = [], controlNets: [ControlNetUse] = []) {
        self.init(request.parameters, scheduler: request.scheduler, schedulerOverrides: request.schedulerOverrides,
                  initialLatents: request.initialLatents, initImage: request.initImage, loras: loras, controlNets: controlNets)
    }
}

extension ClusterImageService {
    /// Queues images without add-ons.
    func submit(_ requests: [TextToImageRequest]) throws(ImageGenerationError) -> AsyncThrowingStream<ImageGenerationEvent, any Error> {
        try submit(requests.map { ImageRequest($0) })
    }
}
