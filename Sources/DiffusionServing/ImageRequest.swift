import Diffusion
import Imaging
import ServingAPI

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
    /// OpenAI's `partial_images` (0 to ``maxPartialImages``): previews at this many steps spread
    /// evenly over the image's steps (``partialImageSteps(total:)``), also on the progress events.
    public var partialImages: Int

    /// The most `partial_images` OpenAI's image streaming takes.
    public static let maxPartialImages = 3

    public init(_ request: TextToImageRequest, loras: [LoRAUse] = [], controlNets: [ControlNetUse] = [], previewInterval: Int = 0,
                partialImages: Int = 0) {
        self.request = request
        self.loras = loras
        self.controlNets = controlNets
        self.previewInterval = previewInterval
        self.partialImages = partialImages
    }
}

extension ImageRequest {
    /// Refuses a negative ``previewInterval`` and ``partialImages`` outside 0…3; the engine and a
    /// cluster's front end check the same.
    public func checkPreviewInterval() throws(ImageGenerationError) {
        guard previewInterval >= 0 else {
            throw .invalidRequest("preview_interval must be a positive number of steps, got \(previewInterval)", param: "preview_interval")
        }
        guard (0 ... Self.maxPartialImages).contains(partialImages) else {
            throw .invalidRequest("partial_images must be between 0 and \(Self.maxPartialImages), got \(partialImages)", param: "partial_images")
        }
    }

    /// The steps (counted from 1, out of the `total` the image runs) whose previews are its partial
    /// images, in order: step ⌊k·total/(partialImages+1)⌋ for k = 1…partialImages, leaving out step
    /// 0 and the last step (the final image); fewer when the image has too few steps.
    ///
    /// ```swift
    /// ImageRequest(request, partialImages: 2).partialImageSteps(total: 20)   // [6, 13]
    /// ```
    public func partialImageSteps(total: Int) -> [Int] {
        var steps: [Int] = []
        for k in stride(from: 1, through: partialImages, by: 1) {
            let step = k * total / (partialImages + 1)
            if step >= 1, step < total, steps.last != step { steps.append(step) }
        }
        return steps
    }

    /// Whether `step` is one of the ``previewInterval``'s.
    public func isIntervalPreview(step: Int) -> Bool { previewInterval > 0 && step % previewInterval == 0 }

    /// The `partial_image_index` of `step`'s preview (of `total` steps), nil when it is none.
    public func partialImageIndex(step: Int, total: Int) -> Int? { partialImageSteps(total: total).firstIndex(of: step) }

    /// Whether the progress event of `step` (of `total`) carries a preview: every
    /// ``previewInterval``-th step and the ``partialImageSteps(total:)``.
    public func showsPreview(step: Int, total: Int) -> Bool {
        isIntervalPreview(step: step) || partialImageIndex(step: step, total: total) != nil
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
