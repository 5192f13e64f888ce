import ArgumentParser
import Cluster
import DiffusionServing

/// The diffusion engine's limits, shared by `serve --image-model` and `worker --role image`
/// (see ``DiffusionEngineConfig``).
struct ImageEngineOptions: ParsableArguments {
    @Option(name: .customLong("max-image-batch"),
            help: "Images denoised together in one UNet call; they join and leave at step boundaries (1: one image at a time).")
    var maxImageBatch = 8

    @Option(name: .customLong("max-queued-images"), help: "Images waiting for a batch slot before new image requests get 503.")
    var maxQueuedImages = 32

    @Option(name: .customLong("max-image-steps"), help: "Most num_inference_steps an image request may ask for.")
    var maxImageSteps = 150

    @Option(name: .customLong("max-image-pixels"), help: "Largest image (width × height) a request may ask for.")
    var maxImagePixels = 1024 * 1024

    @Option(name: .customLong("image-memory"),
            help: "MiB of activation memory the running images may need at once (measured per size); images wait for it, and one that alone needs more is refused.")
    var imageMemoryMiB = ImageMemoryBudget.defaultBytes >> 20

    @Option(name: .customLong("lora-start-step"),
            help: "Bounded asynchronous LoRA loading: images run their first K steps on the base weights while their LoRAs load (0: LoRAs from the first step).")
    var loraStartStep = 0

    @Option(name: .customLong("image-batcher"),
            help: "Which running images share a UNet step: lora-homogeneous (the default: one LoRA set per step, merged) or mixed-lora (any LoRAs, unmerged per row when they differ); with --topology, the topology's imageBatcher.")
    var imageBatcher: String?

    @Option(name: .customLong("pause-at-step"),
            help: "Debugging: the first image with N steps done holds the engine loop (and every running image) until it is cancelled.")
    var pauseAtStep: Int?

    /// The batcher's name, the catalog's default when none is given.
    var imageBatcherName: String { imageBatcher ?? PolicySpec().imageBatcher }

    func validate() throws {
        guard maxImageBatch >= 1, maxQueuedImages >= 1, maxImageSteps >= 1, maxImagePixels >= 64 else {
            throw ValidationError("--max-image-batch, --max-queued-images and --max-image-steps must be at least 1, --max-image-pixels at least 64")
        }
        guard imageMemoryMiB >= 1 else { throw ValidationError("--image-memory must be at least 1") }
        guard loraStartStep >= 0 else { throw ValidationError("--lora-start-step must not be negative") }
        guard (pauseAtStep ?? 1) >= 1 else { throw ValidationError("--pause-at-step must be at least 1") }
        do { _ = try PolicyCatalog.imageBatcher(imageBatcherName) } catch { throw ValidationError("--image-batcher: \(error)") }
    }

    func config() throws -> DiffusionEngineConfig {
        try validate()
        var config = DiffusionEngineConfig(maxBatchSize: maxImageBatch, maxQueuedImages: maxQueuedImages, maxSteps: maxImageSteps, maxPixels: maxImagePixels,
                                           loraStartStep: loraStartStep, stepBatcher: try PolicyCatalog.imageBatcher(imageBatcherName))
        config.pauseAtStep = pauseAtStep
        config.memoryBudgetBytes = imageMemoryMiB << 20
        return config
    }

    /// The same options as a worker's command-line arguments (the batcher only when given: under a
    /// topology the front end passes the topology's).
    var arguments: [String] {
        ["--max-image-batch", String(maxImageBatch), "--max-queued-images", String(maxQueuedImages),
         "--max-image-steps", String(maxImageSteps), "--max-image-pixels", String(maxImagePixels),
         "--image-memory", String(imageMemoryMiB), "--lora-start-step", String(loraStartStep)]
            + (imageBatcher.map { ["--image-batcher", $0] } ?? []) + (pauseAtStep.map { ["--pause-at-step", String($0)] } ?? [])
    }
}
