import Foundation
import Models
import Tensor

/// Where a request's unconditional UNet row runs under a CFG split (Katz/SwiftDiffusion's latent
/// parallelism, arXiv 2407.02031: the conditional pass on one worker, the unconditional on another,
/// noise predictions exchanged every step). The peer runs the same UNet weights with the row's own
/// add-ons (``GuidanceRow``: its unmerged LoRAs or the merged ones, its ControlNet residuals);
/// rows are independent in a UNet call, so the image equals the one computed in one place.
///
/// ```swift
/// conditioning.guidancePeer = peer            // a connection to another diffusion worker
/// try pipeline.denoise(&states)               // sends the row, runs the rest here, waits
/// ```
public protocol GuidancePeer: AnyObject, Sendable {
    /// Starts predicting noise for `rows` and returns the wait for the predictions, in order.
    func predictNoise(_ rows: [GuidanceRow]) throws(DiffusionError) -> @Sendable () throws(DiffusionError) -> [FeatureMap]

    /// The image leaves without its last row (its client left, or it failed): the peer forgets
    /// it, its LoRAs, and the weights it had merged for it. Called after the image's last
    /// `predictNoise`, from the same thread.
    func release()
}

/// An unconditional UNet row as a CFG-split peer runs it, exactly as it would run in its
/// request's batch: the input (its unmerged LoRAs as `input.adapters`), the sum of its ControlNets'
/// residuals, and the LoRAs merged into the weights it expects.
public struct GuidanceRow: @unchecked Sendable {
    public var input: DenoiserInput
    /// nil: no ControlNet acts at this step.
    public var residuals: ControlResiduals?
    /// nil: the UNet's own weights.
    public var merge: UNetLoRAMerge?
    /// The request's last step (a peer forgets the request after it, and its merged LoRAs).
    public var isLast: Bool

    public init(input: DenoiserInput, residuals: ControlResiduals? = nil, merge: UNetLoRAMerge? = nil, isLast: Bool = false) {
        self.input = input
        self.residuals = residuals
        self.merge = merge
        self.isLast = isLast
    }

    /// How the row takes its request's LoRAs: merged, unmerged, or nil (none, or not yet).
    public var loraMode: LoRAMode? { merge != nil ? .merged : input.adapters.isEmpty ? nil : .unmerged }
}

/// The unconditional rows of one step that go to peers, in the order of the batch.
struct GuidanceSplit {
    private struct Row {
        let input: DenoiserInput
        let residuals: PendingResiduals
        let merge: UNetLoRAMerge?
        let isLast: Bool
    }

    private var calls: [(peer: any GuidancePeer, rows: [Row], order: [Int])] = []
    private var count = 0

    mutating func add(_ row: DenoiserInput, residuals: PendingResiduals, merge: UNetLoRAMerge?, isLast: Bool, peer: any GuidancePeer) {
        let row = Row(input: row, residuals: residuals, merge: merge, isLast: isLast)
        if let i = calls.firstIndex(where: { $0.peer === peer }) {
            calls[i].rows.append(row)
            calls[i].order.append(count)
        } else {
            calls.append((peer, [row], [count]))
        }
        count += 1
    }

    /// Sends every peer its rows once their ControlNet residuals are in; the result waits for all
    /// answers and puts them in batch order.
    func start() throws(DiffusionError) -> Pending {
        var waits: [(wait: @Sendable () throws(DiffusionError) -> [FeatureMap], order: [Int])] = []
        var controlNetSeconds = [Double](repeating: 0, count: count)
        for call in calls {
            var rows: [GuidanceRow] = []
            for (row, i) in zip(call.rows, call.order) {
                let (residuals, seconds) = try row.residuals.timedWait()
                controlNetSeconds[i] = seconds
                rows.append(GuidanceRow(input: row.input, residuals: residuals, merge: row.merge, isLast: row.isLast))
            }
            waits.append((try call.peer.predictNoise(rows), call.order))
        }
        return Pending(waits: waits, count: count, controlNetSeconds: controlNetSeconds)
    }

    struct Pending {
        let waits: [(wait: @Sendable () throws(DiffusionError) -> [FeatureMap], order: [Int])]
        let count: Int
        /// Each row's seconds in its ControlNets, in the order the rows were added.
        let controlNetSeconds: [Double]

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
    /// at a time with this pipeline's own denoising loop, each row on the weights it expects and
    /// with its residuals. The merged LoRAs stay in place for the next rows; the caller restores
    /// them once no row needs them (``restoreLoRAs(ifMerged:)``).
    public func predictNoise(_ rows: [GuidanceRow]) throws(DiffusionError) -> [FeatureMap] {
        do {
            return try unetLock.withLock { () throws(DenoiserInputError) in
                var predictions: [FeatureMap] = []
                for row in rows {
                    useMerge(row.merge)
                    predictions.append(try unet.upPass(try unet.downPass(row.input), residuals: row.residuals))
                }
                return predictions
            }
        } catch {
            throw .invalidArgument("UNet: \(error)")
        }
    }
}
