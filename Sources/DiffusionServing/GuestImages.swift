import Cluster
import Diffusion
import Foundation
import Models
import ServingAPI
import Synchronization
import Tensor

/// A CFG-split leader's image whose unconditional rows this engine's pipeline runs: the link its
/// rows arrive by (one per leader connection) and the leader's number for the image on it.
public struct GuestImage: Hashable, Sendable {
    public var link: Int
    public var image: Int

    public init(link: Int, image: Int) {
        self.link = link
        self.image = image
    }
}

/// One unconditional row a CFG-split leader sends (``DiffusionEngine/predictGuestNoise(_:)``): the
/// UNet input (without adapters), its ControlNet residuals, its image's LoRAs by registered name
/// and how the leader's batch applies them at this step (nil: not yet, before the LoRA start
/// step), and whether it is the image's last.
public struct GuestRow: @unchecked Sendable {
    public var image: GuestImage
    public var input: DenoiserInput
    public var residuals: ControlResiduals?
    public var loras: [LoRAUse]
    public var loraMode: LoRAMode?
    public var isLast: Bool

    public init(image: GuestImage, input: DenoiserInput, residuals: ControlResiduals? = nil, loras: [LoRAUse] = [],
                loraMode: LoRAMode? = nil, isLast: Bool = false) {
        self.image = image
        self.input = input
        self.residuals = residuals
        self.loras = loras
        self.loraMode = loraMode
        self.isLast = isLast
    }
}

/// The leaders' images whose rows an engine runs, from their first row to their last one, a
/// release, or their link closing. Each image's LoRAs start loading with its first row and are
/// bound to the pipeline once per set (not every step); a set no image uses any more is unbound
/// and, if merged, restored at once, so a cancelled image leaves pristine weights behind.
final class GuestImages: Sendable {
    private struct Guest {
        let loras: [LoRAUse]
        /// Its rows take their LoRAs now.
        var active: Bool
    }

    private struct State {
        var guests: [GuestImage: Guest] = [:]
        var bound: [[LoRAUse]: UNetLoRAMerge] = [:]
    }

    private let state = Mutex(State())

    /// The LoRA sets the guests' rows take now (`[]` for those without, or before theirs apply).
    var activeSets: [[LoRAUse]] { state.withLock { $0.guests.values.map { $0.active ? $0.loras : [] } } }

    var count: Int { state.withLock { $0.guests.count } }

    /// Noise predictions for `rows`: merged when the leader's batch shares their LoRAs and
    /// ``LoRAMergeRule`` says so over everything these weights serve (the guests' rows and the
    /// engine's own images), else unmerged; images whose last row this is are forgotten after it.
    func predictNoise(_ rows: [GuestRow], engine: DiffusionEngine) throws(DiffusionError) -> [FeatureMap] {
        var bound: [UNetLoRAMerge?] = []
        for row in rows { bound.append(try admit(row, engine: engine)) }
        let shared = LoRAMergeRule.merged(activeSets + engine.runningLoRASets())
        let guidance = zip(rows, bound).map { row, merge in
            var input = row.input
            if let merge, row.loraMode == .merged, shared == row.loras {
                return GuidanceRow(input: input, residuals: row.residuals, merge: merge, isLast: row.isLast)
            }
            if let merge { input.adapters = merge.weights.unet }
            return GuidanceRow(input: input, residuals: row.residuals, isLast: row.isLast)
        }
        defer { end(rows.filter(\.isLast).map(\.image), engine: engine) }
        return try engine.pipeline.predictNoise(guidance)
    }

    /// Forgets `images`; a LoRA set none of the others uses is unbound, and restored if it is the
    /// one merged now and the engine's own images do not run on it.
    func end(_ images: [GuestImage], engine: DiffusionEngine) {
        guard !images.isEmpty else { return }
        let unused = state.withLock { s in
            for image in images { s.guests[image] = nil }
            let used = Set(s.guests.values.map(\.loras))
            let unused = s.bound.filter { !used.contains($0.key) }
            for loras in unused.keys { s.bound[loras] = nil }
            return unused
        }
        let own = engine.runningLoRASets()
        for (loras, merge) in unused where !own.contains(loras) { engine.pipeline.restoreLoRAs(ifMerged: merge.key) }
    }

    /// The images of `link`.
    func images(link: Int) -> [GuestImage] { state.withLock { $0.guests.keys.filter { $0.link == link } } }

    /// Notes the row's image; its LoRAs start loading when the row names them (the leader's first
    /// steps run meanwhile), and are returned bound once the row applies them.
    private func admit(_ row: GuestRow, engine: DiffusionEngine) throws(DiffusionError) -> UNetLoRAMerge? {
        let registry = engine.registry
        if let missing = row.loras.first(where: { registry.entry(.lora, named: $0.name) == nil }) {
            throw .invalidArgument("no LoRA named '\(missing.name)' is registered on this CFG-split peer")
        }
        let active = row.loraMode != nil && !row.loras.isEmpty
        let known = state.withLock { s in
            defer { s.guests[row.image] = Guest(loras: row.loras, active: active) }
            return s.guests[row.image] != nil
        }
        if !known { for use in row.loras { _ = registry.loadLoRA(use.name) } }
        guard active else { return nil }
        if let merge = state.withLock({ $0.bound[row.loras] }) { return merge }
        var requests: [LoRARequest] = []
        for use in row.loras { requests.append(LoRARequest(file: try registry.loadLoRA(use.name).wait(), scale: use.scale)) }
        let merge = UNetLoRAMerge(requests, weights: try engine.pipeline.loraWeights(requests))
        state.withLock { $0.bound[row.loras] = merge }
        return merge
    }
}
