import Diffusion
import Imaging

/// One image to generate, with its add-ons named as the server registered them (see
/// ``AdapterRegistry``): the engine resolves the names, loads what is not cached, and applies the
/// LoRAs and ControlNets with diffusers' arithmetic.
///
/// ```swift
/// let request = ImageRequest(TextToImageRequest(prompt: "a fox", steps: 20, seed: 1),
///                            loras: [LoRAUse(name: "watercolor", scale: 0.8)],
///                            controlNets: [ControlNetUse(name: "canny", image: edges, scale: 0.9)])
/// ```
public struct ImageRequest: Sendable {
    /// Prompt, size, steps, seed, scheduler, init image; its own `loras` and `controlNets` are
    /// filled in by the engine from the named add-ons below.
    public var request: TextToImageRequest
    /// Applied together, each with its scale (diffusers' `set_adapters(names, adapter_weights)`).
    public var loras: [LoRAUse]
    /// Several form a MultiControlNet (residuals summed, each times its scale).
    public var controlNets: [ControlNetUse]
    /// Every this many steps the progress event carries a ``LatentPreview`` of the latents; 0: none.
    public var previewInterval: Int

    public init(_ request: TextToImageRequest, loras: [LoRAUse] = [], controlNets: [ControlNetUse] = [], previewInterval: Int = 0) {
        self.request = request
        self.loras = loras
        self.controlNets = controlNets
        self.previewInterval = previewInterval
    }
}

extension ImageRequest {
    /// Refuses a negative ``previewInterval``; the engine and a cluster's front end check the same.
    public func checkPreviewInterval() throws(ImageGenerationError) {
        guard previewInterval >= 0 else {
            throw .invalidRequest("preview_interval must be a positive number of steps, got \(previewInterval)", param: "preview_interval")
        }
    }
}

extension TextToImageRequest {
    /// Refuses SDXL's `prompt_2` / `negative_prompt_2` for a model with one text encoder (SD 1.x/2.x),
    /// naming the field; the engine and a cluster's front end (before any worker) check the same.
    public func checkSecondPrompts(secondTextEncoder: Bool) throws(ImageGenerationError) {
        guard !secondTextEncoder,
              let field = [("prompt_2", parameters.prompt2), ("negative_prompt_2", parameters.negativePrompt2)].first(where: { $0.1 != nil })?.0 else { return }
        throw .invalidRequest("\(field) is a text for SDXL's second text encoder; this model (SD 1.x/2.x) has one text encoder", param: field)
    }

    /// Refuses `use_karras_sigmas: true` for a scheduler without Karras sigmas (`folderScheduler` runs
    /// when the request names none); the engine and a cluster's front end (before any worker) check the same.
    public func checkSchedulerOverrides(folderScheduler: SchedulerKind) throws(ImageGenerationError) {
        do { try schedulerOverrides.check(for: scheduler ?? folderScheduler) } catch {
            throw .invalidRequest("\(error)", param: "use_karras_sigmas")
        }
    }
}

/// A registered LoRA by name, at `scale` (diffusers' `cross_attention_kwargs={"scale": s}`).
public struct LoRAUse: Sendable, Hashable, Codable {
    public var name: String
    public var scale: Float

    public init(name: String, scale: Float = 1) {
        self.name = name
        self.scale = scale
    }
}

/// A registered ControlNet by name with its control image, `controlnet_conditioning_scale` and
/// `control_guidance_start` / `control_guidance_end` (fractions of the steps).
public struct ControlNetUse: Sendable, Equatable {
    public var name: String
    public var image: RGBImage
    public var scale: Float
    public var start: Float
    public var end: Float

    public init(name: String, image: RGBImage, scale: Float = 1, start: Float = 0, end: Float = 1) {
        self.name = name
        self.image = image
        self.scale = scale
        self.start = start
        self.end = end
    }
}
