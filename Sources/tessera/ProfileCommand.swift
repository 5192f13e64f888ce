import ArgumentParser
import Foundation
import Profiler
import Simulator

/// `tessera profile`: measure a model on this machine's engine and write the simulator's cost model.
struct ProfileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Measure prefill, decode, mixed-step, image-encode and transfer latency on the real engine and write a tessera-cost-model/1 file.",
        discussion: """
        With --image-model, a diffusers Stable Diffusion folder's image-worker costs go into the file's `diffusion` section too: \
        UNet steps by batch size and size, VAE decode, text encoding, and with --lora / --controlnet LoRA load and merge and \
        ControlNet call times. --base FILE takes the language-model sections from an existing cost model instead of profiling one.
        """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Where to write the cost model (JSON).")
    var out: String

    @Option(name: .customLong("batch-sizes"), help: "Comma-separated sequences per prefill batch and per decode step.")
    var batchSizes = "1,2,4,8,16"

    @Option(name: .customLong("prompt-lengths"), help: "Comma-separated prompt lengths (prefill) and context lengths (decode).")
    var promptLengths = "32,128,512"

    @Option(name: .customLong("image-sizes"), help: "Vision-language models: comma-separated WxH input image sizes to encode.")
    var imageSizes = "224x224,640x480"

    @Option(name: .customLong("images-per-request"), help: "Vision-language models: comma-separated images per request to encode.")
    var imagesPerRequest = "1,2,4"

    @Option(help: "Timed runs per point (the median is kept).")
    var runs = 5

    @Option(name: .customLong("max-num-batched-tokens"), help: "The serving engine's tokens per step.")
    var maxBatchedTokens = 2048

    @Option(name: .customLong("max-num-seqs"), help: "The serving engine's running-request limit.")
    var maxRunningRequests = 64

    /// The serving engine's KV cache (its memory sets the KV capacity).
    @OptionGroup var kvCache: KVCacheOptions<EngineKVCacheDefault>

    @Option(name: .customLong("image-model"), help: "A diffusers Stable Diffusion folder whose image-worker costs to profile into the `diffusion` section.")
    var imageModel: String?

    @Option(help: "With --image-model: a cost model whose language-model sections to keep (instead of profiling --model).")
    var base: String?

    @Option(name: .customLong("diffusion-sizes"), help: "With --image-model: comma-separated WxH image sizes (default: the folder's size and twice it).")
    var diffusionSizes: String?

    @Option(name: .customLong("diffusion-batch-sizes"), help: "With --image-model: comma-separated guided images per UNet call.")
    var diffusionBatchSizes = "1,2,4"

    @Option(help: "With --image-model: a LoRA file to time loading and merging.")
    var lora: String?

    @Option(help: "With --image-model: a ControlNet folder to time one call (with --control-image).")
    var controlnet: String?

    @Option(name: .customLong("control-image"), help: "The control image for --controlnet.")
    var controlImage: String?

    @Option(name: .customLong("max-image-batch"), help: "With --image-model: the image workers' step-batch cap, written into the costs.")
    var maxImageBatch = 8

    @Option(name: .customLong("adapter-cache-memory"), help: "With --image-model: the image workers' adapter cache in MiB (sets the LoRAs a worker keeps).")
    var adapterCacheMiB = 1024

    func run() async throws {
        try modelOptions.applyComputeSettings()
        var settings = ProfileSettings()
        settings.batchSizes = try Self.integers(batchSizes, option: "--batch-sizes")
        settings.promptLengths = try Self.integers(promptLengths, option: "--prompt-lengths")
        settings.imageSizes = try Self.sizes(imageSizes)
        settings.imagesPerRequest = try Self.integers(imagesPerRequest, option: "--images-per-request")
        settings.runs = runs
        settings.scheduler.maxBatchedTokens = maxBatchedTokens
        settings.scheduler.maxRunningRequests = maxRunningRequests
        settings.kvCacheMemoryBytes = kvCache.memoryBytes
        settings.blockSize = kvCache.blockSize
        guard base == nil || imageModel != nil else { throw ValidationError("--base adds a diffusion profile: give --image-model too") }
        var model: CostModel
        if let base {
            model = try CostModel.load(from: URL(fileURLWithPath: base))
        } else {
            model = try await Profiler.profile(directory: try modelOptions.modelDirectory(), settings: settings)
        }
        if let imageModel {
            var image = DiffusionProfileSettings()
            image.batchSizes = try Self.integers(diffusionBatchSizes, option: "--diffusion-batch-sizes")
            image.sizes = try diffusionSizes.map { try Self.sizes($0, option: "--diffusion-sizes") }
            image.runs = runs
            image.lora = lora.map { URL(fileURLWithPath: $0) }
            image.controlNet = controlnet.map { URL(fileURLWithPath: $0) }
            image.controlImage = controlImage.map { URL(fileURLWithPath: $0) }
            image.maxBatchSize = maxImageBatch
            guard adapterCacheMiB >= 0 else { throw ValidationError("--adapter-cache-memory must be non-negative") }
            image.loraCacheBytes = adapterCacheMiB << 20
            model.diffusion = try DiffusionProfiler.profile(directory: URL(fileURLWithPath: imageModel), settings: image)
            model.sources.append("diffusion: \(URL(fileURLWithPath: imageModel).lastPathComponent) measured by `tessera profile --image-model` on "
                + "this machine: medians of \(runs) runs per point")
        }
        try Profiler.write(model, to: URL(fileURLWithPath: out))
        let f = { (v: Double) in String(format: "%.4g", v) }
        var lines = [
            "\(model.model) on \(model.hardware)",
            "\(model.smallStep == nil ? "" : "larger ")step ms = \(f(model.prefill.fixedMs)) + \(f(model.prefill.perTokenMs))·prompt tokens + \(f(model.prefill.perTokenSquaredMs))·Σchunk·(before + chunk)"
                + " + \(f(model.decode.perSequenceMs))·decoding sequences + \(f(model.decode.perContextTokenMs))·Σcontext",
        ]
        if let small = model.smallStep {
            lines.append("steps of ≤ \(small.maxTokens) tokens: ms = \(f(small.fixedMs)) + \(f(small.perTokenMs))·tokens + \(f(small.perAttendedTokenMs))·attended tokens")
        }
        if model.measurements?.encode != nil {
            lines.append("encode ms = \(f(model.encode.fixedMs)) + \(f(model.encode.perImageMs))·images + \(f(model.encode.perTokenMs))·image tokens")
        }
        lines.append("transfer ms = \(f(model.transfer.latencyMs)) + bytes / \(f(model.transfer.bandwidthGBps)) GB/s (same-host copy)")
        if let d = model.diffusion {
            lines.append("image worker: UNet step ms = \(f(d.stepFixedMs)) + Σ rows (\(f(d.stepPerRowPixelMs))·pixels + \(f(d.stepPerRowPixelSquaredMs))·pixels²); "
                + "VAE decode ms = \(f(d.vaeDecodeFixedMs)) + \(f(d.vaeDecodePerPixelMs))·pixels; ControlNet call ms = \(f(d.controlNetFixedMs)) + "
                + "\(f(d.controlNetPerPixelMs))·pixels + \(f(d.controlNetPerPixelSquaredMs))·pixels²; text encoding \(f(d.textEncodeMs)) ms; "
                + "LoRA load \(f(d.loraLoadMs)) ms, bind \(f(d.loraBindMs)) ms, merge \(f(d.loraMergeMs)) ms, unmerged row ms = "
                + "\(f(d.unmergedLoRAFixedMs)) + \(f(d.unmergedLoRAPerPixelMs))·pixels + \(f(d.unmergedLoRAPerPixelSquaredMs))·pixels²")
        }
        for (stage, errors) in CostModelFit.relativeErrors(of: model) + (model.diffusion.map(DiffusionProfiler.relativeErrors) ?? []) {
            let sorted = errors.sorted()
            lines.append("\(stage): \(errors.count) points, relative error of the fit median \(f(sorted[sorted.count / 2] * 100)) %, worst \(f((sorted.last ?? 0) * 100)) %")
        }
        lines.append("written to \(out)")
        print(lines.joined(separator: "\n"))
    }

    static func sizes(_ text: String, option: String = "--image-sizes") throws -> [(width: Int, height: Int)] {
        try text.split(separator: ",").map { item in
            let parts = item.trimmingCharacters(in: .whitespaces).split(separator: "x").map { Int($0) }
            guard parts.count == 2, let w = parts[0], let h = parts[1], w >= 1, h >= 1 else {
                throw ValidationError("\(option) takes WxH sizes separated by commas, e.g. 224x224,640x480, got '\(text)'")
            }
            return (w, h)
        }
    }

    static func integers(_ text: String, option: String) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("\(option) takes positive integers separated by commas, got '\(text)'")
        }
        return values.compactMap { $0 }
    }
}
