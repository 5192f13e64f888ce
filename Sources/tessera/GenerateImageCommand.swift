import ArgumentParser
import Diffusion
import Foundation
import Imaging
import Models
import ServingAPI
import Tensor

/// `tessera generate-image`: text to image, or image to image, with a diffusers Stable Diffusion folder.
struct GenerateImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate-image",
        abstract: "Generate an image from a prompt with a diffusers Stable Diffusion 1.x/2.x/XL folder.",
        discussion: """
        The same seed gives the same initial noise as torch.Generator("cpu").manual_seed(seed) in
        diffusers' StableDiffusionPipeline (StableDiffusionXLPipeline for an SDXL folder). Width, height
        and scheduler default to the folder's; --karras-sigmas / --no-karras-sigmas and --timestep-spacing
        set use_karras_sigmas and timestep_spacing over the folder's scheduler config, as diffusers'
        Scheduler.from_config(config, use_karras_sigmas=…, timestep_spacing=…) does (Karras sigmas on
        euler and dpmpp-2m only: the other schedulers have none). --image starts from a PNG or JPEG
        (image-to-image, as diffusers' img2img pipelines: its size unless --width/--height resize it;
        --strength defaults to 0.8, 0.3 for SDXL).
        --init-latents is a safetensors file with key `latents` (float32 [1, C, h, w]: the pipeline's
        `latents=` argument). --tensors writes `latents` (after the last scheduler step, before VAE
        decoding) and `image` (float32 [H, W, 3] in [0, 1], as output_type="np").
        --lora PATH[:SCALE] (repeatable) loads a diffusers/PEFT or kohya LoRA file for the UNet and
        the text encoders, each with its own scale (default 1), merged into the weights for the run.
        --controlnet DIR --control-image PNG (repeatable, paired in order; several form a
        MultiControlNet; SD 1.x/2.x/XL, with --image too) with --control-scale X, --control-guidance-start X
        and --control-guidance-end X each given for every ControlNet or for none (defaults 1, 0, 1); the
        control image is resized to the output size as diffusers does. --guidance defaults to diffusers'
        pipeline default: 7.5, and 5 for an SDXL folder.
        """
    )

    @Option(help: "A diffusers pipeline folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/).")
    var model: String

    @Option(help: "The prompt.")
    var prompt: String

    @Option(name: .customLong("negative-prompt"), help: "The negative prompt (default: empty).")
    var negativePrompt: String?

    @Option(name: .customLong("prompt-2"), help: "SDXL: the prompt for the second text encoder (default: --prompt).")
    var prompt2: String?

    @Option(name: .customLong("negative-prompt-2"), help: "SDXL: the negative prompt for the second text encoder (default: --negative-prompt).")
    var negativePrompt2: String?

    @Option(help: "Denoising steps.")
    var steps = 50

    @Option(help: "Classifier-free guidance scale (≤ 1: no guidance; default as diffusers: 7.5, 5 for SDXL).")
    var guidance: Float?

    @Option(help: "Scheduler: \(SchedulerKind.allCases.map(\.rawValue).joined(separator: "|")) (default: the folder's).")
    var scheduler: String?

    @Flag(name: .customLong("karras-sigmas"), inversion: .prefixedNo,
          help: "Karras sigmas on or off, as diffusers' use_karras_sigmas (euler and dpmpp-2m only; default: the folder's config).")
    var karrasSigmas: Bool?

    @Option(name: .customLong("timestep-spacing"),
            help: "\(TimestepSpacing.allCases.map(\.rawValue).joined(separator: "|")): diffusers' timestep_spacing (default: the folder's config, else the scheduler's own).")
    var timestepSpacing: String?

    @Option(help: "Image width in pixels (default: the folder's).")
    var width: Int?

    @Option(help: "Image height in pixels (default: the folder's).")
    var height: Int?

    @Option(help: "Seed of torch's CPU generator.")
    var seed: UInt64 = 0

    @Option(name: .customLong("init-latents"), help: "A safetensors file with `latents` used instead of drawn noise.")
    var initLatents: String?

    @Option(help: "The PNG to write.")
    var output = "image.png"

    @Option(help: "Also write the final latents and the float image to this safetensors file.")
    var tensors: String?

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    @Option(help: "A LoRA safetensors file PATH[:SCALE] (diffusers/PEFT or kohya; repeatable; scale default 1).")
    var lora: [String] = []

    @Option(name: .customLong("lora-start-step"),
            help: "Run the first K steps without the LoRAs and apply them from step K on, as `serve --lora-start-step K` does.")
    var loraStartStep = 0

    @Option(help: "A diffusers ControlNet folder (repeatable; the i-th takes the i-th --control-image).")
    var controlnet: [String] = []

    @Option(name: .customLong("control-image"), help: "The conditioning image (PNG or JPEG) of each --controlnet.")
    var controlImage: [String] = []

    @Option(name: .customLong("control-scale"), help: "controlnet_conditioning_scale of each --controlnet (all or none; default 1).")
    var controlScale: [Float] = []

    @Option(name: .customLong("control-guidance-start"),
            help: "control_guidance_start of each --controlnet: the fraction of the steps before it starts (all or none; default 0).")
    var controlGuidanceStart: [Float] = []

    @Option(name: .customLong("control-guidance-end"),
            help: "control_guidance_end of each --controlnet: the fraction of the steps after which it stops (all or none; default 1).")
    var controlGuidanceEnd: [Float] = []

    @Option(help: "An init image (PNG or JPEG) for image-to-image.")
    var image: String?

    @Option(help: "Image-to-image strength in [0, 1]: the part of the schedule that runs (needs --image).")
    var strength: Double?

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        if let scheduler, SchedulerKind(rawValue: scheduler) == nil {
            throw ValidationError("--scheduler must be one of \(SchedulerKind.allCases.map(\.rawValue).joined(separator: ", ")), not '\(scheduler)'")
        }
        if let timestepSpacing, TimestepSpacing(rawValue: timestepSpacing) == nil {
            throw ValidationError("--timestep-spacing must be one of \(TimestepSpacing.allCases.map(\.rawValue).joined(separator: ", ")), not '\(timestepSpacing)'")
        }
        if karrasSigmas == true, let kind = scheduler.flatMap(SchedulerKind.init(rawValue:)) {
            try Self.checkKarras(SchedulerOverrides(useKarrasSigmas: true), kind)
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let strength, !(0 ... 1).contains(strength) { throw ValidationError("--strength must be in [0, 1], got \(strength)") }
        if strength != nil && image == nil { throw ValidationError("--strength needs --image") }
        if image != nil && initLatents != nil { throw ValidationError("--init-latents and --image exclude each other") }
        for argument in lora { _ = try Self.loraArgument(argument) }
        guard loraStartStep >= 0 else { throw ValidationError("--lora-start-step must not be negative") }
        guard controlImage.count == controlnet.count else {
            throw ValidationError("every --controlnet needs one --control-image (got \(controlnet.count) ControlNets, \(controlImage.count) images)")
        }
        for (option, values) in [("--control-scale", controlScale), ("--control-guidance-start", controlGuidanceStart),
                                 ("--control-guidance-end", controlGuidanceEnd)] {
            guard values.isEmpty || values.count == controlnet.count else {
                throw ValidationError("give \(option) for every --controlnet or for none (got \(controlnet.count) ControlNets, \(values.count) values)")
            }
            if let bad = values.first(where: { !$0.isFinite }) { throw ValidationError("\(option) must be a finite number, not \(bad)") }
        }
    }

    /// Refuses --karras-sigmas for a scheduler without Karras sigmas.
    static func checkKarras(_ overrides: SchedulerOverrides, _ kind: SchedulerKind) throws {
        do { try overrides.check(for: kind) } catch { throw ValidationError("--karras-sigmas: \(error)") }
    }

    /// `PATH[:SCALE]`: the scale is what follows the last colon when that parses as a number.
    static func loraArgument(_ argument: String) throws -> (path: String, scale: Float) {
        if let colon = argument.lastIndex(of: ":"), let scale = Float(argument[argument.index(after: colon)...]) {
            guard scale.isFinite else { throw ValidationError("--lora \(argument): the scale must be a finite number") }
            let path = String(argument[..<colon])
            guard !path.isEmpty else { throw ValidationError("--lora \(argument): no file before the scale") }
            return (path, scale)
        }
        guard !argument.isEmpty else { throw ValidationError("--lora needs a file") }
        return (argument, 1)
    }

    func run() throws {
        if let threads { ComputeThreads.set(threads) }
        let pipeline = try StableDiffusionPipeline(directory: URL(fileURLWithPath: model))
        var request = TextToImageRequest(prompt: prompt, negativePrompt: negativePrompt, steps: steps,
                                         guidanceScale: guidance ?? pipeline.defaultGuidanceScale,
                                         scheduler: scheduler.flatMap(SchedulerKind.init(rawValue:)),
                                         width: width, height: height, seed: seed, strength: strength,
                                         prompt2: prompt2, negativePrompt2: negativePrompt2)
        request.schedulerOverrides = SchedulerOverrides(useKarrasSigmas: karrasSigmas, timestepSpacing: timestepSpacing.flatMap(TimestepSpacing.init(rawValue:)))
        try Self.checkKarras(request.schedulerOverrides, request.scheduler ?? pipeline.folderScheduler)
        if let image {
            request.initImage = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: image))
        }
        request.loras = try lora.map {
            let (path, scale) = try Self.loraArgument($0)
            return LoRARequest(file: try LoRAFile(url: URL(fileURLWithPath: path)), scale: scale)
        }
        // One request: merged weights cost nothing per step.
        request.loraMode = .merged
        request.loraStartStep = loraStartStep
        request.controlNets = try controlnet.indices.map { i in
            ControlNetRequest(controlNet: try ControlNetModel(directory: URL(fileURLWithPath: controlnet[i])),
                              image: try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: controlImage[i])),
                              scale: controlScale.isEmpty ? 1 : controlScale[i],
                              start: controlGuidanceStart.isEmpty ? 0 : controlGuidanceStart[i],
                              end: controlGuidanceEnd.isEmpty ? 1 : controlGuidanceEnd[i])
        }
        if let initLatents {
            let file = try SafetensorsFile(path: initLatents)
            request.initialLatents = try file.floats("latents")
        }
        let progress = ProgressBar()
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try pipeline.generate(request) { step, total in progress.update(step: step, total: total) }
        let generated = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let png = try PNGEncoder.encode(rgb: result.rgb8, width: result.width, height: result.height)
        try Data(png).write(to: URL(fileURLWithPath: output))
        if let tensors {
            let bytes = SafetensorsWriter.encode([
                ("latents", result.latentShape, result.latents),
                ("image", [result.height, result.width, 3], result.image),
            ])
            try Data(bytes).write(to: URL(fileURLWithPath: tensors))
        }
        // The generation time (text encoders, denoising, VAE decode; not loading) is what benchmarks read.
        FileHandle.standardError.write(Data("wrote \(output) (\(result.width)×\(result.height)), generated in \(String(format: "%.2f", generated)) s\n".utf8))
    }
}

/// A one-line progress bar on standard error: steps done and seconds per step.
private final class ProgressBar {
    private let start = DispatchTime.now().uptimeNanoseconds

    func update(step: Int, total: Int) {
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let width = 30
        let filled = width * step / max(total, 1)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = String(format: "\r[%@] %d/%d steps, %.2f s/step", bar, step, total, elapsed / Double(step))
        FileHandle.standardError.write(Data((line + (step == total ? "\n" : "")).utf8))
    }
}
