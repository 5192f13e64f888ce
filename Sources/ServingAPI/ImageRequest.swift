import Imaging

/// One image to generate, as the images API and a front end hand it to an ``ImageGenerationService``:
/// plain values only. Its ``ImageGenerationParameters`` read as its own fields (`request.prompt`);
/// add-ons are named as the server registered them, and the engine that holds the model resolves
/// the names, loads what is not cached, and applies the LoRAs and ControlNets with diffusers' arithmetic.
///
/// ```swift
/// var request = ImageRequest(ImageGenerationParameters(prompt: "a fox", steps: 20, seed: 1), scheduler: .euler)
/// request.loras = [LoRAUse(name: "watercolor", scale: 0.8)]
/// request.controlNets = [ControlNetUse(name: "canny", image: edges, scale: 0.9)]
/// ```
@dynamicMemberLookup
public struct ImageRequest: Sendable {
    public var parameters: ImageGenerationParameters
    /// `nil`: the model folder's scheduler.
    public var scheduler: SchedulerKind?
    /// Karras sigmas and timestep spacing over the folder's scheduler config (diffusers' `from_config` keyword arguments).
    public var schedulerOverrides: SchedulerOverrides
    /// diffusers' `latents=`: 1×C×h×w noise used instead of drawing it; with an init image, the
    /// noise added to its latents. Only an engine in this process takes them.
    public var initialLatents: [Float]?
    /// Image-to-image: the image to start from (resized to `width`×`height` when they are given).
    public var initImage: RGBImage?
    /// Applied together, each with its scale (diffusers' `set_adapters(names, adapter_weights)`).
    public var loras: [LoRAUse]
    /// Several form a MultiControlNet (residuals summed, each times its scale).
    public var controlNets: [ControlNetUse]
    /// Which steps' progress events carry a ``LatentPreview``.
    public var previews: ImagePreviews

    public init(_ parameters: ImageGenerationParameters, scheduler: SchedulerKind? = nil, schedulerOverrides: SchedulerOverrides = SchedulerOverrides(),
                initialLatents: [Float]? = nil, initImage: RGBImage? = nil, loras: [LoRAUse] = [], controlNets: [ControlNetUse] = [],
                previews: ImagePreviews = ImagePreviews()) {
        self.parameters = parameters
        self.scheduler = scheduler
        self.schedulerOverrides = schedulerOverrides
        self.initialLatents = initialLatents
        self.initImage = initImage
        self.loras = loras
        self.controlNets = controlNets
        self.previews = previews
    }

    public subscript<Value>(dynamicMember field: WritableKeyPath<ImageGenerationParameters, Value>) -> Value {
        get { parameters[keyPath: field] }
        set { parameters[keyPath: field] = newValue }
    }
}

/// Which progress events of an image carry a preview of its latents: every ``interval``-th step,
/// and OpenAI's `partial_images` (0 to ``maxPartialImages``) at steps spread evenly over the
/// image's steps (``partialImageSteps(total:)``).
///
/// ```swift
/// ImagePreviews(partialImages: 2).partialImageSteps(total: 20)   // [6, 13]
/// ```
public struct ImagePreviews: Sendable, Hashable {
    /// Every this many steps; 0: none.
    public var interval: Int
    public var partialImages: Int

    /// The most `partial_images` OpenAI's image streaming takes.
    public static let maxPartialImages = 3

    public init(interval: Int = 0, partialImages: Int = 0) {
        self.interval = interval
        self.partialImages = partialImages
    }

    /// Refuses a negative ``interval`` and ``partialImages`` outside 0…3; the engine and a
    /// cluster's front end check the same.
    public func check() throws(ImageGenerationError) {
        guard interval >= 0 else {
            throw .invalidRequest("preview_interval must be a positive number of steps, got \(interval)", param: "preview_interval")
        }
        guard (0 ... Self.maxPartialImages).contains(partialImages) else {
            throw .invalidRequest("partial_images must be between 0 and \(Self.maxPartialImages), got \(partialImages)", param: "partial_images")
        }
    }

    /// The steps (counted from 1, out of the `total` the image runs) whose previews are its partial
    /// images, in order: step ⌊k·total/(partialImages+1)⌋ for k = 1…partialImages, leaving out step
    /// 0 and the last step (the final image); fewer when the image has too few steps.
    public func partialImageSteps(total: Int) -> [Int] {
        var steps: [Int] = []
        for k in stride(from: 1, through: partialImages, by: 1) {
            let step = k * total / (partialImages + 1)
            if step >= 1, step < total, steps.last != step { steps.append(step) }
        }
        return steps
    }

    /// Whether `step` is one of the ``interval``'s.
    public func isIntervalPreview(step: Int) -> Bool { interval > 0 && step % interval == 0 }

    /// The `partial_image_index` of `step`'s preview (of `total` steps), nil when it is none.
    public func partialImageIndex(step: Int, total: Int) -> Int? { partialImageSteps(total: total).firstIndex(of: step) }

    /// Whether the progress event of `step` (of `total`) carries a preview: every ``interval``-th
    /// step and the ``partialImageSteps(total:)``.
    public func showsPreview(step: Int, total: Int) -> Bool {
        isIntervalPreview(step: step) || partialImageIndex(step: step, total: total) != nil
    }
}

extension ImageGenerationParameters {
    /// Refuses SDXL's `prompt_2` / `negative_prompt_2` for a model with one text encoder (SD 1.x/2.x),
    /// naming the field; the engine and a cluster's front end (before any worker) check the same.
    public func checkSecondPrompts(secondTextEncoder: Bool) throws(ImageGenerationError) {
        guard !secondTextEncoder,
              let field = [("prompt_2", prompt2), ("negative_prompt_2", negativePrompt2)].first(where: { $0.1 != nil })?.0 else { return }
        throw .invalidRequest("\(field) is a text for SDXL's second text encoder; this model (SD 1.x/2.x) has one text encoder", param: field)
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
