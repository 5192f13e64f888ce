import Engine

/// What `tessera profile` measures and the engine limits it writes into the cost model.
///
/// ```swift
/// var settings = ProfileSettings()
/// settings.batchSizes = [1, 4, 16]
/// settings.promptLengths = [32, 128]
/// ```
public struct ProfileSettings: Sendable {
    /// Sequences per prefill batch and per decode step.
    public var batchSizes: [Int] = [1, 2, 4, 8, 16]
    /// Prompt lengths of prefill batches, and context lengths of decode steps.
    public var promptLengths: [Int] = [32, 128, 512]
    /// Timed repetitions per point, after one untimed warm-up; the median is kept.
    public var runs = 5
    /// The serving engine's step limits (`--max-num-batched-tokens`, `--max-num-seqs`): prefill
    /// batches above the token budget are not measured, and both limits go into the cost model.
    public var scheduler = SchedulerConfig()
    /// KV cache of the serving engine, which sets the cost model's KV capacity.
    public var kvCacheMemoryBytes = EngineConfig().kvCacheMemoryBytes
    public var blockSize = EngineConfig().blockSize
    /// Sizes of the same-host copies timed for the transfer cost, bytes.
    public var copySizes = [1 << 20, 1 << 22, 1 << 24, 1 << 26]
    /// Vision-language models: input image sizes, and images per request, of the encode points.
    /// Fixed-size towers (CLIP, SigLIP) give every size the same tokens but resize at different
    /// costs; Qwen2-VL's token count follows the size.
    public var imageSizes: [(width: Int, height: Int)] = [(224, 224), (640, 480)]
    public var imagesPerRequest = [1, 2, 4]

    public init() {}

    func validate() throws(ProfileError) {
        guard !batchSizes.isEmpty, batchSizes.allSatisfy({ $0 >= 1 }) else { throw .invalidSettings("batch sizes must be at least 1") }
        guard !promptLengths.isEmpty, promptLengths.allSatisfy({ $0 >= 1 }) else { throw .invalidSettings("prompt lengths must be at least 1") }
        guard runs >= 1 else { throw .invalidSettings("runs must be at least 1") }
        guard scheduler.maxBatchedTokens >= 1, scheduler.maxRunningRequests >= 1 else {
            throw .invalidSettings("the token budget and the running-request limit must be positive")
        }
        guard blockSize >= 1, kvCacheMemoryBytes >= 1 else { throw .invalidSettings("block size and KV cache memory must be positive") }
        guard copySizes.count >= 2, copySizes.allSatisfy({ $0 >= 1 }) else { throw .invalidSettings("at least two positive copy sizes are needed") }
        guard !imageSizes.isEmpty, imageSizes.allSatisfy({ $0.width >= 1 && $0.height >= 1 }) else {
            throw .invalidSettings("image sizes must be at least 1x1")
        }
        guard !imagesPerRequest.isEmpty, imagesPerRequest.allSatisfy({ $0 >= 1 }) else { throw .invalidSettings("images per request must be at least 1") }
    }
}
