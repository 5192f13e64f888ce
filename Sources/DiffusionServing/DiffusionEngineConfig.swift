import Cluster

/// Limits of a ``DiffusionEngine``.
public struct DiffusionEngineConfig: Sendable {
    /// Images denoised together in one UNet call (their CFG rows too); 1 runs one image at a time to
    /// the end. Admitted images hold their latents and text conditioning until they finish.
    public var maxBatchSize = 8
    /// Images waiting for a batch slot before new groups get `overloaded` (503).
    public var maxQueuedImages = 32
    /// Most denoising steps one image may ask for.
    public var maxSteps = 150
    /// Largest image, width × height in pixels.
    public var maxPixels = 1024 * 1024
    /// Activation memory the running images may need at once, as ``ImageMemory`` measures them
    /// (``ImageMemoryBudget``: waiting images join in arrival order while the running ones and they
    /// fit); an image that alone needs more is refused (`size`). Weights, packed weights and add-on
    /// caches are outside it.
    public var memoryBudgetBytes = ImageMemoryBudget.defaultBytes
    /// Bounded asynchronous LoRA loading (Katz et al., §BAL): an image's first `loraStartStep`
    /// steps run on the base weights while its LoRAs load, and its LoRAs apply from that step on
    /// (a step whose LoRA is still loading waits). 0 applies them from the first step, as diffusers
    /// (the first step then waits for a load). Choose it from a profile as docs/diffusion-addons.md says: the
    /// first step whose output with and without the LoRA diverges.
    public var loraStartStep = 0
    /// Which running images share each UNet call (``PolicyCatalog/imageBatchers``): by default the
    /// catalog's default (``PolicySpec/imageBatcher``), one LoRA set per call.
    public var stepBatcher: any StepBatchPolicy = DiffusionEngineConfig.defaultStepBatcher
    /// A breakpoint for debugging and for tests that must act at a known step: the first image to
    /// have this many steps done holds the loop (every running image waits with it) until that
    /// image is cancelled; later images pass. nil, the default, never holds.
    public var pauseAtStep: Int?

    public init(maxBatchSize: Int = 8, maxQueuedImages: Int = 32, maxSteps: Int = 150, maxPixels: Int = 1024 * 1024,
                loraStartStep: Int = 0, stepBatcher: any StepBatchPolicy = DiffusionEngineConfig.defaultStepBatcher) {
        self.maxBatchSize = maxBatchSize
        self.maxQueuedImages = maxQueuedImages
        self.maxSteps = maxSteps
        self.maxPixels = maxPixels
        self.loraStartStep = loraStartStep
        self.stepBatcher = stepBatcher
    }
}

extension DiffusionEngineConfig {
    /// The step batcher ``PolicySpec`` names by default.
    public static var defaultStepBatcher: any StepBatchPolicy {
        // The default name is in the catalog (DiffusionPolicyTests).
        try! PolicyCatalog.imageBatcher(PolicySpec().imageBatcher)
    }
}
