/// One running image as a step-batch policy sees it: its latent size, and the LoRA set its rows
/// take at this step (empty on the base weights, e.g. before bounded asynchronous loading lets its
/// LoRAs in). Equal sets can run on one set of merged weights.
public struct StepCandidate: Sendable, Hashable {
    public var height: Int
    public var width: Int
    /// LoRAs with their scales, in the request's order (two images share merged weights only when equal).
    public var loras: [String]

    public init(height: Int, width: Int, loras: [String] = []) {
        self.height = height
        self.width = width
        self.loras = loras
    }
}

/// Which running images share the next UNet call (Orca-style iteration-level scheduling, applied
/// to denoising steps): the oldest running image picks the group, and every running image that the
/// policy groups with it joins, whatever step it is at, up to `maxBatchSize`. A group always holds
/// one latent size. Images outside the group wait for a step whose oldest image is theirs, so
/// none starves. Named in ``PolicyCatalog/imageBatchers``; the live diffusion engine and the
/// simulator's image workers both select with it.
///
/// ```swift
/// let chosen = MixedLoRAStepBatch().select([StepCandidate(height: 8, width: 8, loras: ["a"]),
///                                           StepCandidate(height: 8, width: 8, loras: ["b"])], maxBatchSize: 8)   // [0, 1]
/// ```
public protocol StepBatchPolicy: Sendable {
    /// Whether `candidate` (of the same size) may share a UNet call with `oldest`.
    func groups(_ candidate: StepCandidate, with oldest: StepCandidate) -> Bool
}

extension StepBatchPolicy {
    /// Indices into `running` (oldest first) of the next call's images.
    public func select(_ running: [StepCandidate], maxBatchSize: Int) -> [Int] {
        guard let oldest = running.first else { return [] }
        return Array(running.indices.filter {
            running[$0].height == oldest.height && running[$0].width == oldest.width && groups(running[$0], with: oldest)
        }.prefix(maxBatchSize))
    }
}

/// `mixed-lora`: every image of the oldest's size joins, whatever its LoRAs. A batch whose images
/// all take the same LoRAs runs on merged weights; one that mixes them runs each image's rows with
/// its own LoRAs unmerged (low-rank, per row). Larger batches, no waiting for a LoRA group; the
/// price is the low-rank products of mixed batches. No peer batches mixed LoRAs.
public struct MixedLoRAStepBatch: StepBatchPolicy {
    public init() {}

    public func groups(_ candidate: StepCandidate, with oldest: StepCandidate) -> Bool { true }
}

/// `lora-homogeneous`: only images taking the oldest's LoRA set join, so every call runs on merged
/// weights (or the base weights), as peers that serve one adapter set per batch do. Images with
/// other LoRAs wait until the oldest image is theirs; the weights are re-merged when the group changes.
public struct LoRAHomogeneousStepBatch: StepBatchPolicy {
    public init() {}

    public func groups(_ candidate: StepCandidate, with oldest: StepCandidate) -> Bool { candidate.loras == oldest.loras }
}
