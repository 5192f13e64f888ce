/// Adapter-affine image routing (Katz/SwiftDiffusion, arXiv 2407.02031 §2 and §4.2: LoRAs have a
/// long tail and loading one dominates its request's latency, so a worker that already holds a
/// request's LoRAs in its cache serves it fastest). Among the candidates, the worker holding the
/// most of the image's LoRAs (``ClusterView/cachedLoRAs(on:)``; then the fewest queued, then the
/// lowest id) takes it, unless it has more than `maxImbalance` images queued beyond the least
/// loaded worker: then the least loaded takes it (``DiffusionRouter``'s choice), so a popular
/// LoRA cannot pile its requests on one worker. Images without LoRAs go to the least loaded.
/// A CFG-split peer is the least loaded of the others. Catalog name: `adapter-affinity`.
///
/// ```swift
/// // worker 1 holds "watercolor" and has 2 images queued, worker 0 none: 2 ≤ 0 + 2, so worker 1.
/// AdapterAffinityRouter(maxImbalance: 2).route(image, candidates: [0, 1], splitGuidance: false, in: view)
/// ```
public struct AdapterAffinityRouter: ImageRouter {
    /// Images a cache-holding worker may have queued beyond the least loaded one and still be chosen.
    public var maxImbalance: Int

    public init(maxImbalance: Int = 2) {
        self.maxImbalance = maxImbalance
    }

    public func route(_ image: ImageRequestInfo, candidates: [Int], splitGuidance: Bool, in cluster: some ClusterView) -> ImageRoute? {
        guard let least = cluster.fewestQueued(candidates) else { return nil }
        var worker = least
        if !image.loras.isEmpty {
            let all = cluster.instances
            let held = Dictionary(uniqueKeysWithValues: candidates.map { id in
                let cached = cluster.cachedLoRAs(on: id)
                return (id, image.loras.count { cached.contains($0) })
            })
            let affine = candidates.filter { held[$0, default: 0] > 0 }
                .min { (-held[$0, default: 0], all[$0].queuedRequests, $0) < (-held[$1, default: 0], all[$1].queuedRequests, $1) }
            if let affine, all[affine].queuedRequests <= all[least].queuedRequests + maxImbalance { worker = affine }
        }
        return ImageRoute(worker: worker, guidancePeer: splitGuidance ? cluster.fewestQueued(candidates, excluding: worker) : nil)
    }
}
