/// ElasticMM's modality-aware request routing (arXiv 2507.10069, §3.2 and §3.4).
///
/// The caller restricts candidates to the request's modality group; within it the router prefers
/// an instance that already caches the request's images (the unified multimodal prefix cache),
/// provided its load is within `affinitySlack` tokens of the least-loaded candidate, and otherwise
/// takes the least-loaded one.
public struct ModalityRouter: RequestRouter {
    /// How much more queued work (tokens) a cache-hit instance may carry and still be preferred.
    public var affinitySlack: Double

    public init(affinitySlack: Double = 4096) {
        self.affinitySlack = affinitySlack
    }

    public func route(_ request: RequestInfo, to stage: Stage, candidates: [Int], in cluster: some ClusterView) -> Int? {
        guard let least = cluster.argmin(candidates, { LeastLoadedRouter.load($0, stage) }) else { return nil }
        guard stage != .decode, !request.images.isEmpty else { return least }
        let all = cluster.instances
        let floor = LeastLoadedRouter.load(all[least], stage)
        var best = least
        var bestHits = 0
        for id in candidates {
            let hits = request.images.reduce(0) { $0 + (cluster.hasCached(imageHash: $1.hash, on: id) ? $1.tokens : 0) }
            guard hits > bestHits, LeastLoadedRouter.load(all[id], stage) - floor <= affinitySlack else { continue }
            best = id
            bestHits = hits
        }
        return best
    }
}
