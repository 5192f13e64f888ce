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

    public init(maxBatchSize: Int = 8, maxQueuedImages: Int = 32, maxSteps: Int = 150, maxPixels: Int = 1024 * 1024) {
        self.maxBatchSize = maxBatchSize
        self.maxQueuedImages = maxQueuedImages
        self.maxSteps = maxSteps
        self.maxPixels = maxPixels
    }
}
