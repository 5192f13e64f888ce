import Foundation
import Models
import Tensor
import Tokenizers

/// Text-to-image generation with a Stable Diffusion 1.x / 2.x folder, step for step as diffusers'
/// `StableDiffusionPipeline` (prepare_latents, classifier-free guidance, scheduler step, VAE decode).
///
/// The denoising step (`denoise`) is a function of the latents, the step and the conditioning
/// only, so a batcher can advance requests at different steps; `generate` is the loop around it.
///
/// ```swift
/// let pipeline = try StableDiffusionPipeline(directory: folder)
/// let result = try pipeline.generate(TextToImageRequest(prompt: "a cat", seed: 0))
/// ```
public final class StableDiffusionPipeline: @unchecked Sendable {
    public let tokenizer: CLIPTokenizer
    public let textEncoder: CLIPTextModel
    public let unet: UNet2DConditionModel
    public let vae: AutoencoderKL
    /// The folder's `scheduler_config.json`, resolved per request (diffusers' `from_config`).
    public let schedulerJSON: [String: Any]
    /// The default image side: the UNet's `sample_size` times the VAE's scale factor.
    public let defaultSize: Int

    public init(directory: URL) throws(DiffusionError) {
        let index = try readConfigObject(directory.appendingPathComponent("model_index.json"))
        let className = index["_class_name"] as? String ?? "(none)"
        guard className == "StableDiffusionPipeline" else {
            throw .unsupported(file: directory.appendingPathComponent("model_index.json").path,
                               detail: "pipeline class \(className) (StableDiffusionPipeline is supported)")
        }
        for component in ["tokenizer", "text_encoder", "unet", "vae", "scheduler"] where index[component] == nil {
            throw .invalidConfig(file: directory.appendingPathComponent("model_index.json").path, detail: "no \(component) component")
        }
        do {
            tokenizer = try CLIPTokenizer.load(directory: directory.appendingPathComponent("tokenizer"))
        } catch {
            throw .invalidConfig(file: directory.appendingPathComponent("tokenizer").path, detail: "\(error)")
        }
        do {
            textEncoder = try CLIPTextModel(directory: directory.appendingPathComponent("text_encoder"))
            unet = try UNet2DConditionModel(directory: directory.appendingPathComponent("unet"))
            vae = try AutoencoderKL(directory: directory.appendingPathComponent("vae"))
        } catch {
            throw .invalidConfig(file: directory.path, detail: "\(error)")
        }
        let schedulerFile = directory.appendingPathComponent("scheduler/scheduler_config.json")
        schedulerJSON = try readConfigObject(schedulerFile)
        _ = try SchedulerConfig(json: schedulerJSON, file: schedulerFile.path)
        let unetConfig = try readConfigObject(directory.appendingPathComponent("unet/config.json"))
        defaultSize = ((unetConfig["sample_size"] as? Int) ?? 64) * vae.scaleFactor
    }

    /// The scheduler `kind` (the folder's own when `nil`) configured from the folder, with `steps` timesteps.
    public func scheduler(_ kind: SchedulerKind?, steps: Int) throws(DiffusionError) -> any DiffusionScheduler {
        try makeScheduler(SchedulerConfig(json: schedulerJSON, kind: kind), steps: steps)
    }

    /// The text encoder's last hidden state for `text` (77 × hidden), as `encode_prompt` without clip_skip.
    public func encodePrompt(_ text: String) throws(DiffusionError) -> Matrix {
        do {
            return try textEncoder.encode(tokenizer.encodePadded(text)).lastHiddenState
        } catch {
            throw .invalidArgument("text encoder: \(error)")
        }
    }

    /// The conditioning of `request`: prompt embeddings, and negative ones when guidance applies
    /// (guidance_scale > 1, as diffusers' `do_classifier_free_guidance`).
    public func conditioning(_ request: TextToImageRequest) throws(DiffusionError) -> DenoisingConditioning {
        let positive = try encodePrompt(request.prompt)
        let negative = request.guidanceScale > 1 ? try encodePrompt(request.negativePrompt ?? "") : nil
        return DenoisingConditioning(prompt: positive, negativePrompt: negative, guidanceScale: request.guidanceScale)
    }

    /// One denoising step: scale the model input, predict noise (both CFG rows in one UNet call),
    /// combine `uncond + g·(text − uncond)` and step the scheduler. `latents` are 1×C×h×w, row-major.
    public func denoise(_ latents: [Float], height: Int, width: Int, step: Int, scheduler: inout any DiffusionScheduler,
                        conditioning: DenoisingConditioning, generator: inout TorchGenerator) throws(DiffusionError) -> [Float] {
        let input = scheduler.scaleModelInput(latents, step: step)
        let sample = input.withUnsafeBufferPointer {
            FeatureMap(channelsFirst: $0.baseAddress!, channels: unet.inChannels, height: height, width: width)
        }
        let timestep = Float(scheduler.timesteps[step])
        let states = [conditioning.negativePrompt, conditioning.prompt].compactMap { $0 }
        let rows = states.map {
            DenoiserInput(sample: sample, timestep: timestep, encoderHiddenStates: $0, adapters: conditioning.adapters)
        }
        let predictions: [FeatureMap]
        do {
            predictions = try unet.predictNoise(rows)
        } catch {
            throw .invalidArgument("UNet: \(error)")
        }
        var noise = predictions[predictions.count - 1].channelsFirst()
        if predictions.count == 2 {
            let uncond = predictions[0].channelsFirst()
            let g = conditioning.guidanceScale
            for i in noise.indices { noise[i] = uncond[i] + g * (noise[i] - uncond[i]) }
        }
        return scheduler.step(modelOutput: noise, step: step, sample: latents, generator: &generator)
    }

    /// Runs `request` to the end; `progress(step, total)` is called after every step.
    public func generate(_ request: TextToImageRequest,
                         progress: (Int, Int) -> Void = { _, _ in }) throws(DiffusionError) -> GeneratedImage {
        let height = request.height ?? defaultSize, width = request.width ?? defaultSize
        let multiple = vae.scaleFactor * unet.sizeMultiple
        guard height > 0, width > 0, height % multiple == 0, width % multiple == 0 else {
            throw .invalidArgument("width and height must be positive multiples of \(multiple), got \(width)×\(height)")
        }
        let (h, w) = (height / vae.scaleFactor, width / vae.scaleFactor)
        let shape = [1, unet.inChannels, h, w]
        var scheduler = try scheduler(request.scheduler, steps: request.steps)
        let conditioning = try conditioning(request)
        var generator = TorchGenerator(seed: request.seed)
        var latents: [Float]
        if let initial = request.initialLatents {
            guard initial.count == shape.reduce(1, *) else {
                throw .invalidArgument("initial latents have \(initial.count) values; \(shape) needs \(shape.reduce(1, *))")
            }
            latents = initial
        } else {
            latents = generator.randn(count: shape.reduce(1, *))
        }
        let sigma = scheduler.initNoiseSigma
        latents = latents.map { $0 * sigma }
        for step in scheduler.timesteps.indices {
            latents = try denoise(latents, height: h, width: w, step: step, scheduler: &scheduler,
                                  conditioning: conditioning, generator: &generator)
            progress(step + 1, scheduler.timesteps.count)
        }
        let scale = vae.scalingFactor
        let scaled = latents.map { $0 / scale }
        let decoded = scaled.withUnsafeBufferPointer {
            vae.decode(FeatureMap(channelsFirst: $0.baseAddress!, channels: vae.latentChannels, height: h, width: w))
        }
        let image = (0 ..< decoded.pixels.count).map { min(max(decoded.pixels.data[$0] / 2 + 0.5, 0), 1) }
        return GeneratedImage(latents: latents, latentShape: shape, image: image, width: width, height: height)
    }
}

/// A text-to-image request (diffusers' pipeline arguments).
public struct TextToImageRequest: Sendable {
    public var prompt: String
    /// `nil`: the empty prompt, as diffusers.
    public var negativePrompt: String?
    public var steps: Int
    public var guidanceScale: Float
    /// `nil`: the folder's scheduler.
    public var scheduler: SchedulerKind?
    /// `nil`: the folder's default size.
    public var width: Int?
    public var height: Int?
    public var seed: UInt64
    /// diffusers' `latents=`: 1×C×h×w noise used instead of drawing it (still times init_noise_sigma).
    public var initialLatents: [Float]?

    public init(prompt: String, negativePrompt: String? = nil, steps: Int = 50, guidanceScale: Float = 7.5,
                scheduler: SchedulerKind? = nil, width: Int? = nil, height: Int? = nil, seed: UInt64 = 0,
                initialLatents: [Float]? = nil) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.steps = steps
        self.guidanceScale = guidanceScale
        self.scheduler = scheduler
        self.width = width
        self.height = height
        self.seed = seed
        self.initialLatents = initialLatents
    }
}

/// What a denoising step is conditioned on.
public struct DenoisingConditioning: @unchecked Sendable {
    public var prompt: Matrix
    /// `nil`: no classifier-free guidance.
    public var negativePrompt: Matrix?
    public var guidanceScale: Float
    /// Unmerged LoRAs for this request's UNet rows.
    public var adapters: LowRankAdapters

    public init(prompt: Matrix, negativePrompt: Matrix?, guidanceScale: Float, adapters: LowRankAdapters = LowRankAdapters()) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.guidanceScale = guidanceScale
        self.adapters = adapters
    }
}

/// A pipeline's result: the final latents (before VAE decoding) and the image as `output_type="np"`.
public struct GeneratedImage: Sendable {
    /// 1×C×h×w, row-major.
    public let latents: [Float]
    public let latentShape: [Int]
    /// height × width × 3 in [0, 1].
    public let image: [Float]
    public let width: Int
    public let height: Int

    /// 8-bit RGB as diffusers' `numpy_to_pil`: (x·255).round(), ties to even as NumPy.
    public var rgb8: [UInt8] { image.map { UInt8(($0 * 255).rounded(.toNearestOrEven)) } }
}
