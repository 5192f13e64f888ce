import Foundation
import Synchronization
import Imaging
import Models
import ServingAPI
import Tensor
import Tokenizers

/// Text-to-image and image-to-image generation with a Stable Diffusion 1.x / 2.x / XL folder, step
/// for step as diffusers' `StableDiffusionPipeline`, `StableDiffusionImg2ImgPipeline`,
/// `StableDiffusionXLPipeline` and `StableDiffusionXLImg2ImgPipeline` (prepare_latents,
/// classifier-free guidance, scheduler step, VAE decode).
///
/// The denoising step (`denoise`) is a function of each request's ``DenoisingState`` only (SDXL's
/// pooled embeddings and size conditioning travel in the conditioning), so a batcher can advance
/// requests at different steps and of different pipelines in one UNet call; `start` (`prepare` and
/// the conditioning), `denoise` and `decode` are the parts `generate` runs. Add-ons per request: LoRAs
/// (`TextToImageRequest.loras`, diffusers/PEFT or kohya files, unmerged per row or merged into the
/// weights, see `LoRAMode`) and ControlNets (`controlNets`, one or several, as
/// `StableDiffusionControlNetPipeline` / `StableDiffusionXLControlNetPipeline`, with an init image
/// `StableDiffusionControlNetImg2ImgPipeline`);
/// both live in `DenoisingConditioning`, so rows of different requests can share one step.
///
/// ```swift
/// let pipeline = try StableDiffusionPipeline(directory: folder)
/// let result = try pipeline.generate(TextToImageRequest(prompt: "a cat", seed: 0))
/// ```
public final class StableDiffusionPipeline: @unchecked Sendable {
    public let tokenizer: CLIPTokenizer
    public let textEncoder: CLIPTextModel
    /// SDXL's second tokenizer and text encoder (`CLIPTextModelWithProjection`); `nil` for SD 1.x/2.x.
    public let tokenizer2: CLIPTokenizer?
    public let textEncoder2: CLIPTextModel?
    /// SDXL's `force_zeros_for_empty_prompt`: without a negative prompt the negative conditioning is zeros.
    public let forceZerosForEmptyPrompt: Bool
    public let unet: UNet2DConditionModel
    public let vae: AutoencoderKL
    /// The folder's `scheduler_config.json`, resolved per request (diffusers' `from_config`).
    public let schedulerJSON: [String: Any]
    /// The scheduler the folder names (`_class_name`): the one a request without `scheduler` runs.
    public let folderScheduler: SchedulerKind
    /// The default image side: the UNet's `sample_size` times the VAE's scale factor.
    public let defaultSize: Int
    /// One UNet call at a time: the denoising loop's and those a CFG-split peer asks for (``predictNoise(_:)``).
    let unetLock = NSLock()
    /// The LoRAs merged into the UNet's weights now (``mergeLoRAs(_:)``), under `unetLock`.
    var unetMerge: (key: [UNetLoRAMerge.Key], restore: MergedLoRAs)?
    /// Whether LoRAs are merged now and how many merges were made (``hasMergedLoRAs``, ``loraMerges``),
    /// kept apart from `unetLock`, which a UNet call holds for seconds: a worker's heartbeat reads them.
    let mergeCounters = Mutex<(merged: Bool, merges: Int)>((false, 0))

    public init(directory: URL) throws(DiffusionError) {
        let index = try readConfigObject(directory.appendingPathComponent("model_index.json"))
        let indexPath = directory.appendingPathComponent("model_index.json").path
        let className = index["_class_name"] as? String ?? "(none)"
        guard let family = Self.pipelineClasses[className] else {
            throw .unsupported(file: indexPath, detail: "pipeline class \(className) (supported: \(Self.pipelineClasses.keys.sorted().joined(separator: ", ")))")
        }
        let xl = family == .xl
        let components = ["tokenizer", "text_encoder", "unet", "vae", "scheduler"] + (xl ? ["tokenizer_2", "text_encoder_2"] : [])
        for component in components where !((index[component] as? [Any])?.first is String) {
            throw .invalidConfig(file: indexPath, detail: "no \(component) component")
        }
        if (index["requires_aesthetics_score"] as? Bool) == true {
            throw .unsupported(file: indexPath, detail: "requires_aesthetics_score (SDXL refiner conditioning)")
        }
        forceZerosForEmptyPrompt = xl && (index["force_zeros_for_empty_prompt"] as? Bool ?? true)
        do {
            tokenizer = try CLIPTokenizer.load(directory: directory.appendingPathComponent("tokenizer"))
        } catch {
            throw .invalidConfig(file: directory.appendingPathComponent("tokenizer").path, detail: "\(error)")
        }
        do {
            tokenizer2 = xl ? try CLIPTokenizer.load(directory: directory.appendingPathComponent("tokenizer_2")) : nil
        } catch {
            throw .invalidConfig(file: directory.appendingPathComponent("tokenizer_2").path, detail: "\(error)")
        }
        do {
            textEncoder = try CLIPTextModel(directory: directory.appendingPathComponent("text_encoder"))
            unet = try UNet2DConditionModel(directory: directory.appendingPathComponent("unet"))
            vae = try AutoencoderKL(directory: directory.appendingPathComponent("vae"))
            textEncoder2 = xl ? try CLIPTextModel(directory: directory.appendingPathComponent("text_encoder_2")) : nil
        } catch {
            throw .invalidConfig(file: directory.path, detail: "\(error)")
        }
        let schedulerFile = directory.appendingPathComponent("scheduler/scheduler_config.json")
        schedulerJSON = try readConfigObject(schedulerFile)
        folderScheduler = try SchedulerConfig(json: schedulerJSON, file: schedulerFile.path).kind
        let unetConfig = try readConfigObject(directory.appendingPathComponent("unet/config.json"))
        defaultSize = ((unetConfig["sample_size"] as? Int) ?? 64) * vae.scaleFactor
        let vaeConfig = try readConfigObject(directory.appendingPathComponent("vae/config.json"))
        for key in ["latents_mean", "latents_std"] where !(vaeConfig[key] == nil || vaeConfig[key] is NSNull) {
            throw .unsupported(file: directory.appendingPathComponent("vae/config.json").path, detail: key)
        }
        try checkAddedConditioning(directory: directory)
    }

    /// The `_class_name`s of `model_index.json` this pipeline loads (the image-to-image pipelines'
    /// folders hold the same components).
    static let pipelineClasses: [String: Family] = [
        "StableDiffusionPipeline": .sd, "StableDiffusionImg2ImgPipeline": .sd,
        "StableDiffusionXLPipeline": .xl, "StableDiffusionXLImg2ImgPipeline": .xl,
    ]

    enum Family { case sd, xl }

    /// The scheduler `kind` (the folder's own when `nil`) configured from the folder with `overrides`
    /// over it, with `steps` timesteps.
    public func scheduler(_ kind: SchedulerKind?, overrides: SchedulerOverrides = SchedulerOverrides(), steps: Int)
        throws(DiffusionError) -> any DiffusionScheduler {
        try makeScheduler(SchedulerConfig(json: schedulerJSON, kind: kind, overrides: overrides), steps: steps)
    }


    /// The text encoder's last hidden state for `text` (77 × hidden), as `encode_prompt` without
    /// clip_skip; `adapters` are the request's text-encoder LoRAs.
    public func encodePrompt(_ text: String, adapters: LowRankAdapters = LowRankAdapters()) throws(DiffusionError) -> Matrix {
        do {
            return try textEncoder.encode(tokenizer.encodePadded(text), adapters: adapters).lastHiddenState
        } catch {
            throw .invalidArgument("text encoder: \(error)")
        }
    }

    /// The request's LoRAs bound to this pipeline's UNet and text encoders.
    public func loraWeights(_ loras: [LoRARequest]) throws(DiffusionError) -> LoRAWeights {
        try LoRAWeights(loras, unet: unet, textEncoders: textEncoders)
    }

    /// The text encoders by the LoRA component that adapts them.
    var textEncoders: [LoRAFile.Component: CLIPTextModel] {
        var encoders: [LoRAFile.Component: CLIPTextModel] = [.textEncoder: textEncoder]
        if let textEncoder2 { encoders[.textEncoder2] = textEncoder2 }
        return encoders
    }

    /// The conditioning of `request`: prompt embeddings (through its text-encoder LoRAs), and
    /// negative ones when guidance applies (guidance_scale > 1, as diffusers'
    /// `do_classifier_free_guidance`); its UNet LoRAs as unmerged adapters unless `loraMode` is
    /// `.merged` (then the caller merges them into the UNet and text encoders first, as `generate`
    /// does with `LoRAWeights.merge(into:)`, and the text is encoded through the merged weights); its
    /// ControlNets with their prepared images.
    public func conditioning(_ request: TextToImageRequest) throws(DiffusionError) -> DenoisingConditioning {
        try conditioning(request, loras: try loraWeights(request.loras))
    }

    /// The conditioning of `request` with its LoRAs already bound (`loraWeights(request.loras)`).
    public func conditioning(_ request: TextToImageRequest, loras: LoRAWeights) throws(DiffusionError) -> DenoisingConditioning {
        var conditioning: DenoisingConditioning
        let textEncoderAdapters = request.loraMode == .unmerged ? loras.textEncoders : [:]
        if textEncoder2 != nil {
            conditioning = try xlConditioning(request, textAdapters: textEncoderAdapters)
        } else {
            if request.prompt2 != nil || request.negativePrompt2 != nil {
                throw .invalidArgument("prompt_2 and negative_prompt_2 need an SDXL pipeline (a second text encoder)")
            }
            let textAdapters = textEncoderAdapters[.textEncoder] ?? LowRankAdapters()
            let positive = try encodePrompt(request.prompt, adapters: textAdapters)
            let negative = request.guidanceScale > 1 ? try encodePrompt(request.negativePrompt ?? "", adapters: textAdapters) : nil
            conditioning = DenoisingConditioning(prompt: positive, negativePrompt: negative, guidanceScale: request.guidanceScale)
        }
        if request.loraMode == .unmerged { conditioning.adapters = loras.unet }
        if !request.controlNets.isEmpty {
            let (height, width) = try outputSize(request)
            for control in request.controlNets { conditioning.controls.append(try ControlCondition(control, width: width, height: height)) }
        }
        conditioning.guidancePeer = request.guidancePeer
        return conditioning
    }

    /// The state of `request` before its first step: `prepare`'s latents, scheduler and generator,
    /// and the conditioning (text, unmerged LoRAs, ControlNets).
    public func start(_ request: TextToImageRequest) throws(DiffusionError) -> DenoisingState {
        let generation = try prepare(request)
        return DenoisingState(generation: generation, conditioning: try conditioning(request), step: generation.firstStep)
    }

    /// The step (counted from the request's first) from which a request whose LoRAs start late
    /// (`loraStartStep`, bounded asynchronous loading) runs with them: `loraStartStep`, but never
    /// past the last step, so every LoRA of a request acts on at least one step.
    public func loraActivationStep(_ request: TextToImageRequest, stepsTotal: Int) -> Int {
        min(request.loraStartStep, max(stepsTotal - 1, 0))
    }

    /// One denoising step of every state in `batch`, each at its own step: scale the model input,
    /// run each row's ControlNets, predict noise for all rows (both CFG rows of every state) in one
    /// UNet call, combine `uncond + g·(text − uncond)` and step each state's scheduler. States may
    /// differ in size, timestep, conditioning, adapters and ControlNets, and share one set of merged
    /// LoRAs (``DenoisingConditioning/mergedLoRAs``); each result is the one it would have alone. A
    /// state with a CFG-split peer sends it its unconditional row with that row's ControlNet
    /// residuals and LoRAs. Returns each state's seconds in its ControlNets (running them here, or
    /// waiting for a service's residuals after the down pass).
    @discardableResult
    public func denoise(_ batch: inout [DenoisingState]) throws(DiffusionError) -> [Double] {
        var rows: [DenoiserInput] = []
        var residuals: [PendingResiduals] = []
        // The batch index of each local row and of each row sent to a CFG-split peer.
        var rowStates: [Int] = []
        var splitStates: [Int] = []
        var split = GuidanceSplit()
        var controlNetSeconds = [Double](repeating: 0, count: batch.count)
        for (s, state) in batch.enumerated() {
            precondition(!state.isFinished, "a finished state was stepped")
            let generation = state.generation
            let input = generation.scheduler.scaleModelInput(generation.latents, step: state.step)
            let sample = input.withUnsafeBufferPointer {
                FeatureMap(channelsFirst: $0.baseAddress!, channels: unet.inChannels, height: generation.latentHeight,
                           width: generation.latentWidth)
            }
            let timestep = Float(generation.scheduler.timesteps[state.step])
            let conditioning = state.conditioning
            let states = [conditioning.negativePrompt, conditioning.prompt].compactMap { $0 }
            let textTime = conditioning.textTime
            let textEmbeds = [textTime?.negativeTextEmbeds, textTime?.textEmbeds].suffix(states.count)
            for (k, (hidden, embeds)) in zip(states, textEmbeds).enumerated() {
                let row = DenoiserInput(sample: sample, timestep: timestep, encoderHiddenStates: hidden, textEmbeds: embeds,
                                        timeIds: textTime?.timeIds, adapters: conditioning.adapters)
                // Image-to-image counts the ControlNet window over the steps it runs (diffusers' controlnet_keep after get_timesteps).
                let pending = try conditioning.controls.startResiduals(for: row, step: state.stepsDone, of: state.stepsTotal)
                if k == 0, states.count == 2, let peer = conditioning.guidancePeer {
                    split.add(row, residuals: pending, merge: conditioning.mergedLoRAs, isLast: state.step + 1 == generation.scheduler.timesteps.count,
                              peer: peer)
                    splitStates.append(s)
                    continue
                }
                rows.append(row)
                residuals.append(pending)
                rowStates.append(s)
            }
        }
        let merge = batch.first?.conditioning.mergedLoRAs
        precondition(batch.allSatisfy { $0.conditioning.mergedLoRAs?.key == merge?.key }, "a batch shares one set of merged LoRAs")
        // The peers' unconditional rows run while this process runs the rest.
        let remote = try split.start()
        for (s, seconds) in zip(splitStates, remote.controlNetSeconds) { controlNetSeconds[s] += seconds }
        // The rows' down pass (one batch per latent size) runs while their ControlNets' residuals are
        // computed (by a service), the up pass once they are in.
        var predictions = [FeatureMap?](repeating: nil, count: rows.count)
        do {
            // Released before waiting for a CFG-split peer, whose own loop may be waiting for this worker's UNet.
            unetLock.lock()
            defer { unetLock.unlock() }
            // A peer's rows may have left other LoRAs merged since the caller merged the batch's.
            useMerge(merge)
            for group in UNet2DConditionModel.sizeGroups(rows) {
                let down: UNet2DConditionModel.DownPassState
                do { down = try unet.downPass(group.map { rows[$0] }) } catch { throw .invalidArgument("UNet: \(error)") }
                var sums: [ControlResiduals?] = []
                for i in group {
                    let (sum, seconds) = try residuals[i].timedWait()
                    sums.append(sum)
                    controlNetSeconds[rowStates[i]] += seconds
                }
                let outputs: [FeatureMap]
                do { outputs = try unet.upPass(down, rowResiduals: sums) } catch { throw .invalidArgument("UNet: \(error)") }
                for (i, output) in zip(group, outputs) { predictions[i] = output }
            }
        }
        var unconditional = try remote.wait()
        var row = 0
        for i in batch.indices {
            var state = batch[i]
            let guided = state.conditioning.negativePrompt != nil
            let local = guided && state.conditioning.guidancePeer == nil
            var noise = predictions[row + (local ? 1 : 0)]!.channelsFirst()
            if guided {
                let uncond = local ? predictions[row]!.channelsFirst() : unconditional.removeFirst().channelsFirst()
                let g = state.conditioning.guidanceScale
                for j in noise.indices { noise[j] = uncond[j] + g * (noise[j] - uncond[j]) }
            }
            row += local ? 2 : 1
            state.generation.latents = state.generation.scheduler.step(
                modelOutput: noise, step: state.step, sample: state.generation.latents, generator: &state.generation.generator)
            state.step += 1
            batch[i] = state
        }
        return controlNetSeconds
    }

    /// The image of a finished state.
    public func decode(_ state: DenoisingState) -> GeneratedImage {
        decodeLatents(state.generation.latents, height: state.generation.height, width: state.generation.width)
    }

    /// Runs `request` to the end; `progress(step, total)` is called after every step.
    /// With `loraStartStep` K > 0 the steps before K run on the base weights and text encoders, and
    /// from step K on with the LoRAs (text re-encoded through theirs), as a server that loads the
    /// LoRAs while the first steps run does.
    public func generate(_ request: TextToImageRequest,
                         progress: (Int, Int) -> Void = { _, _ in }) throws(DiffusionError) -> GeneratedImage {
        var base = request
        base.loras = []
        var batch = [try start(request.loras.isEmpty ? request : base)]
        let activation = request.loras.isEmpty ? nil : loraActivationStep(request, stepsTotal: batch[0].stepsTotal)
        var merged: MergedLoRAs?
        defer { merged?.restore() }
        while !batch[0].isFinished {
            if batch[0].stepsDone == activation {
                let loras = try loraWeights(request.loras)
                if request.loraMode == .merged { merged = loras.merge(into: self) }
                batch[0].conditioning = try conditioning(request, loras: loras)
            }
            try denoise(&batch)
            progress(batch[0].stepsDone, batch[0].stepsTotal)
        }
        return decode(batch[0])
    }

    /// Image sides must be multiples of this (the VAE's scale factor times the UNet's down-sampling).
    public var sizeMultiple: Int { vae.scaleFactor * unet.sizeMultiple }

    /// The size arithmetic of this model: its default side, VAE scale factor and ``sizeMultiple``.
    public var sizeRule: ImageSizeRule { ImageSizeRule(defaultSize: defaultSize, vaeScaleFactor: vae.scaleFactor, sizeMultiple: sizeMultiple) }

    /// The output size of `request` in pixels: its width and height, else the init image's, else the folder's.
    public func outputSize(_ request: TextToImageRequest) throws(DiffusionError) -> (height: Int, width: Int) {
        do { return try sizeRule.outputSize(width: request.width, height: request.height, initImage: request.initImage) } catch {
            throw .invalidArgument(error.description)
        }
    }

    /// The scheduler, generator and starting latents of `request`: pure noise times
    /// `init_noise_sigma` (text-to-image), or the init image's latents noised to the first kept
    /// timestep (image-to-image), drawing from the seeded generator in diffusers' order.
    public func prepare(_ request: TextToImageRequest) throws(DiffusionError) -> PreparedGeneration {
        let (height, width) = try outputSize(request)
        let (h, w) = (height / vae.scaleFactor, width / vae.scaleFactor)
        let shape = [1, unet.inChannels, h, w]
        let scheduler = try scheduler(request.scheduler, overrides: request.schedulerOverrides, steps: request.steps)
        var state = PreparedGeneration(latents: [], scheduler: scheduler, firstStep: 0, generator: TorchGenerator(seed: request.seed),
                                       height: height, width: width, latentHeight: h, latentWidth: w)
        if let image = request.initImage {
            guard request.initialLatents == nil else {
                throw .invalidArgument("initial latents and an init image exclude each other (image-to-image draws its noise)")
            }
            try prepareImageToImage(&state, image: image, steps: request.steps, strength: request.strength ?? defaultStrength(request))
            return state
        }
        guard request.strength == nil else { throw .invalidArgument("strength needs an init image") }
        if let initial = request.initialLatents {
            guard initial.count == shape.reduce(1, *) else {
                throw .invalidArgument("initial latents have \(initial.count) values; \(shape) needs \(shape.reduce(1, *))")
            }
            state.latents = initial
        } else {
            state.latents = state.generator.randn(count: shape.reduce(1, *))
        }
        let sigma = scheduler.initNoiseSigma
        state.latents = state.latents.map { $0 * sigma }
        return state
    }

    /// The image of final `latents` (1×C×h×w): divided by the VAE's scaling factor, decoded, mapped
    /// to [0, 1] as `output_type="np"`.
    public func decodeLatents(_ latents: [Float], height: Int, width: Int) -> GeneratedImage {
        let (h, w) = (height / vae.scaleFactor, width / vae.scaleFactor)
        let scale = vae.scalingFactor
        let scaled = latents.map { $0 / scale }
        let decoded = scaled.withUnsafeBufferPointer {
            vae.decode(FeatureMap(channelsFirst: $0.baseAddress!, channels: vae.latentChannels, height: h, width: w))
        }
        let image = (0 ..< decoded.pixels.count).map { min(max(decoded.pixels.data[$0] / 2 + 0.5, 0), 1) }
        return GeneratedImage(latents: latents, latentShape: [1, vae.latentChannels, h, w], image: image, width: width, height: height)
    }
}

/// A request ready for its denoising loop: run `denoise` for steps `firstStep ..< timesteps.count`.
public struct PreparedGeneration: Sendable {
    /// 1×C×h×w, row-major.
    public var latents: [Float]
    public var scheduler: any DiffusionScheduler
    /// 0 for text-to-image; image-to-image skips the steps its strength leaves out.
    public var firstStep: Int
    public var generator: TorchGenerator
    /// Output size in pixels and latent size.
    public let height, width, latentHeight, latentWidth: Int
}

/// One request between steps: its prepared generation (latents, scheduler with a multistep
/// solver's history, generator), its conditioning and the next step. A batcher holds many and steps
/// them together.
public struct DenoisingState: @unchecked Sendable {
    public internal(set) var generation: PreparedGeneration
    /// Replaced between steps when add-ons arrive late (a LoRA loaded while the first steps ran).
    public var conditioning: DenoisingConditioning
    /// The next step to run (image-to-image starts past the steps its strength leaves out).
    public internal(set) var step: Int

    public var isFinished: Bool { step == generation.scheduler.timesteps.count }
    /// Steps done and to do in all, counted from the first step this request runs.
    public var stepsDone: Int { step - generation.firstStep }
    public var stepsTotal: Int { generation.scheduler.timesteps.count - generation.firstStep }
    public var latentHeight: Int { generation.latentHeight }
    public var latentWidth: Int { generation.latentWidth }
}

/// A text-to-image request (diffusers' pipeline arguments): its ``ImageGenerationParameters``,
/// read as the request's own fields (`request.prompt`, `request.steps`), and what only a pipeline
/// in this process takes (a scheduler kind, initial latents, the init image's pixels, add-on models).
@dynamicMemberLookup
public struct TextToImageRequest: Sendable {
    public var parameters: ImageGenerationParameters
    /// `nil`: the folder's scheduler.
    public var scheduler: SchedulerKind?
    /// Karras sigmas and timestep spacing over the folder's scheduler config (diffusers' `from_config` keyword arguments).
    public var schedulerOverrides = SchedulerOverrides()
    /// diffusers' `latents=`: 1×C×h×w noise used instead of drawing it (still times init_noise_sigma);
    /// with an init image, the noise added to its latents.
    public var initialLatents: [Float]?
    /// Image-to-image: the image to start from (resized to `width`×`height` when they are given).
    public var initImage: RGBImage?
    /// LoRAs, each with its own scale, on the UNet and the text encoders.
    public var loras: [LoRARequest]
    public var loraMode: LoRAMode
    /// ControlNets (several: MultiControlNet, residuals summed).
    public var controlNets: [ControlNetRequest]
    /// CFG split: the peer that runs the unconditional UNet row each step (see ``GuidancePeer``).
    public var guidancePeer: (any GuidancePeer)?
    /// Bounded asynchronous LoRA loading (Katz et al., §BAL): the steps before this one run without
    /// the LoRAs (see `loraActivationStep`); 0 applies them from the first step, as diffusers.
    public var loraStartStep = 0

    public init(_ parameters: ImageGenerationParameters, scheduler: SchedulerKind? = nil, initialLatents: [Float]? = nil,
                initImage: RGBImage? = nil, loras: [LoRARequest] = [], loraMode: LoRAMode = .unmerged, controlNets: [ControlNetRequest] = []) {
        self.parameters = parameters
        self.scheduler = scheduler
        self.initialLatents = initialLatents
        self.initImage = initImage
        self.loras = loras
        self.loraMode = loraMode
        self.controlNets = controlNets
    }

    public init(prompt: String, negativePrompt: String? = nil, steps: Int = 50, guidanceScale: Float = 7.5,
                scheduler: SchedulerKind? = nil, width: Int? = nil, height: Int? = nil, seed: UInt64 = 0,
                initialLatents: [Float]? = nil, initImage: RGBImage? = nil, strength: Double? = nil,
                loras: [LoRARequest] = [], loraMode: LoRAMode = .unmerged, controlNets: [ControlNetRequest] = [],
                prompt2: String? = nil, negativePrompt2: String? = nil) {
        self.init(ImageGenerationParameters(prompt: prompt, negativePrompt: negativePrompt, prompt2: prompt2, negativePrompt2: negativePrompt2,
                                            steps: steps, guidanceScale: guidanceScale, width: width, height: height, seed: seed, strength: strength),
                  scheduler: scheduler, initialLatents: initialLatents, initImage: initImage, loras: loras, loraMode: loraMode, controlNets: controlNets)
    }

    public subscript<Value>(dynamicMember field: WritableKeyPath<ImageGenerationParameters, Value>) -> Value {
        get { parameters[keyPath: field] }
        set { parameters[keyPath: field] = newValue }
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
    /// SDXL's added conditioning (`addition_embed_type: text_time`); `nil` for SD 1.x/2.x.
    public var textTime: TextTimeConditioning?
    /// ControlNets whose residuals this request's UNet rows take (each times its scale, inside its
    /// start/end window of the steps).
    public var controls: [ControlCondition]
    /// CFG split: where the unconditional row runs each step; nil runs it in the batch here.
    public var guidancePeer: (any GuidancePeer)?
    /// The LoRAs this request's rows expect merged into the UNet's weights (a batch whose images all
    /// use the same LoRAs; `adapters` is then empty); nil: the UNet's own weights.
    public var mergedLoRAs: UNetLoRAMerge?

    public init(prompt: Matrix, negativePrompt: Matrix?, guidanceScale: Float, adapters: LowRankAdapters = LowRankAdapters(),
                textTime: TextTimeConditioning? = nil, controls: [ControlCondition] = []) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.guidanceScale = guidanceScale
        self.adapters = adapters
        self.textTime = textTime
        self.controls = controls
    }
}
