import CoreUtilities
import Foundation
import Models

/// LoRAs merged into a pipeline's UNet weights for the rows that expect them: a batch whose images
/// all use the same LoRAs, and the rows a CFG-split leader sends for such a batch. The pipeline
/// holds one merge at a time; every UNet call first puts in place the weights its rows expect
/// (under the UNet lock), so a peer's rows and the pipeline's own batch may expect different ones.
///
/// ```swift
/// let merge = UNetLoRAMerge(request.loras, weights: try pipeline.loraWeights(request.loras))
/// pipeline.mergeLoRAs(merge)   // the UNet's weights with the LoRAs merged in
/// pipeline.mergeLoRAs(nil)     // pristine again, bit for bit
/// ```
public struct UNetLoRAMerge: Sendable {
    /// A LoRA file and its scale: merges with equal keys write the same weights.
    public struct Key: Hashable, Sendable {
        let path: String
        let scale: Float
    }

    public let key: [Key]
    public let weights: LoRAWeights

    /// `weights` bound from `loras` (``StableDiffusionPipeline/loraWeights(_:)``).
    public init(_ loras: [LoRARequest], weights: LoRAWeights) {
        key = loras.map { Key(path: $0.file.path, scale: $0.scale) }
        self.weights = weights
    }
}

extension StableDiffusionPipeline {
    /// Merges `merge`'s LoRAs into the UNet's weights, restoring the ones merged before (nil:
    /// restores the pristine weights); returns the seconds it took, 0 when they are in place.
    @discardableResult
    public func mergeLoRAs(_ merge: UNetLoRAMerge?) -> Double {
        unetLock.withLock { useMerge(merge) }
    }

    /// Restores the pristine weights if `key`'s LoRAs are the ones merged now (a server's other
    /// rows may have merged others meanwhile, which stay).
    public func restoreLoRAs(ifMerged key: [UNetLoRAMerge.Key]) {
        unetLock.withLock { if unetMerge?.key == key { useMerge(nil) } }
    }

    /// Whether LoRAs are merged into the UNet's weights now (false: pristine).
    public var hasMergedLoRAs: Bool { mergeCounters.withLock { $0.merged } }

    /// How many times LoRAs were merged into the UNet's weights so far (each merge restores the
    /// previous one first): a server whose rows alternate between LoRA sets counts one per switch.
    public var loraMerges: Int { mergeCounters.withLock { $0.merges } }

    /// ``mergeLoRAs(_:)`` with the UNet lock held.
    @discardableResult
    func useMerge(_ merge: UNetLoRAMerge?) -> Double {
        guard unetMerge?.key != merge?.key else { return 0 }
        let start = ContinuousClock.now
        unetMerge?.restore.restore()
        unetMerge = merge.map { ($0.key, $0.weights.merge(into: unet)) }
        mergeCounters.withLock { $0 = (merge != nil, $0.merges + (merge != nil ? 1 : 0)) }
        return (ContinuousClock.now - start).seconds
    }
}
