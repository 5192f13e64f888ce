import Foundation
import Models
import Tensor

/// Where a request's unconditional UNet row runs under a CFG split (Katz/SwiftDiffusion's latent
/// parallelism, arXiv 2407.02031: the conditional pass on one worker, the unconditional on another,
/// noise predictions exchanged every step). The peer runs the same UNet weights; rows are
/// independent in a UNet call, so the image equals the one computed in one place.
///
/// ```swift
/// conditioning.guidancePeer = peer            // a connection to another diffusion worker
/// try pipeline.denoise(&states)               // sends the row, runs the rest here, waits
/// ```
public protocol GuidancePeer: AnyObject, Sendable {
    /// Starts predicting noise for `rows` (no adapters, no ControlNet residuals) and returns the
    /// wait for the predictions, in order.
    func predictNoise(_ rows: [DenoiserInput]) throws(DiffusionError) -> @Sendable () throws(DiffusionError) -> [FeatureMap]
}

/// The unconditional rows of one step that go to peers, in the order of the batch.
struct GuidanceSplit {
    private var calls: [(peer: any GuidancePeer, rows: [DenoiserInput], order: [Int])] = []
    private var count = 0

    mutating func add(_ row: DenoiserInput, peer: any GuidancePeer) {
        if let i = calls.firstIndex(where: { $0.peer === peer }) {
            calls[i].rows.append(row)
            calls[i].order.append(count)
        } else {
            calls.append((peer, [row], [count]))
        }
        count += 1
    }

    /// Sends every peer its rows; the result waits for all answers and puts them in batch order.
    func start() throws(DiffusionError) -> Pending {
        var waits: [(wait: @Sendable () throws(DiffusionError) -> [FeatureMap], order: [Int])] = []
        for call in calls { waits.append((try call.peer.predictNoise(call.rows), call.order)) }
        return Pending(waits: waits, count: count)
    }

    struct Pending {
        let waits: [(wait: @Sendable () throws(DiffusionError) -> [FeatureMap], order: [Int])]
        let count: Int

        func wait() throws(DiffusionError) -> [FeatureMap] {
            var ordered = [FeatureMap?](repeating: nil, count: count)
            for (wait, order) in waits {
                let predictions = try wait()
                guard predictions.count == order.count else {
                    throw .invalidArgument("a CFG-split peer answered \(predictions.count) predictions for \(order.count) rows")
                }
                for (k, i) in order.enumerated() { ordered[i] = predictions[k] }
            }
            return ordered.map { $0! }
        }
    }
}

extension StableDiffusionPipeline {
    /// Noise predictions for rows a CFG-split peer sends (its unconditional rows), one UNet call
    /// at a time with this pipeline's own denoising loop.
    public func predictNoise(_ rows: [DenoiserInput]) throws(DiffusionError) -> [FeatureMap] {
        do {
            return try unetLock.withLock { () throws(DenoiserInputError) in try unet.predictNoise(rows) }
        } catch {
            throw .invalidArgument("UNet: \(error)")
        }
    }
}

extension DenoisingConditioning {
    /// Why this request cannot split its guidance across workers, or nil: the peer runs the base
    /// UNet only, without this request's unmerged LoRAs or ControlNet residuals.
    public var guidanceSplitRefusal: String? {
        if !adapters.isEmpty { return "a CFG split runs the base UNet on its peer; LoRAs are not split yet" }
        if !controls.isEmpty { return "a CFG split does not carry ControlNet residuals to its peer yet" }
        return nil
    }
}
