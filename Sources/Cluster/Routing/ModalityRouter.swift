/// ElasticMM's modality-aware request routing (arXiv 2507.10069, §3.2 and §3.4), cache-aware over
/// its unified multimodal prefix cache.
///
/// The caller restricts candidates to the request's modality group; within it the router prefers
/// the instance already holding the most of the request's prompt — its images' encoder outputs
/// and its longest cached token prefix (ElasticMM §3.4's unified prefix cache, routed on as SGLang's
/// cache-aware load balancer does) — provided that instance's queue is within `affinitySlack`
/// tokens and `queueSlack` requests of the least-loaded candidate's; otherwise it takes the
/// least-loaded one. Decode placement ignores caches: a decode instance imports the prompt's KV.
public struct ModalityRouter: RequestRouter {
    /// How much more queued work (tokens) a cache-hit instance may carry and still be preferred.
    public var affinitySlack: Double
    /// How many more queued requests a cache-hit instance may hold and still be preferred.
    public var queueSlack: Int

    public init(affinitySlack: Double = 4096, queueSlack: Int = 4) {
        self.affinitySlack = affinitySlack
        self.queueSlack = queueSlack
    }

    public func route(_ request: RequestInfo, to stage: Stage, candidates: [Int], in cluster: some ClusterView) -> Int? {
        guard let least = cluster.argmin(candidates, { LeastLoadedRouter.load($0, stage) }) else { return nil }
        guard stage != .decode else { return least }
        let all = cluster.instances
        let floor = LeastLoadedRouter.load(all[least], stage)
        var best = least
        var bestHits = 0
        for id in candidates {
            let imageHits = request.images.reduce(0) { $0 + (cluster.hasCached(image: $1.id, on: id) ? $1.tokens : 0) }
            let hits = imageHits + cluster.cachedPrefixTokens(of: request, on: id)
            guard hits > bestHits, LeastLoadedRouter.load(all[id], stage) - floor <= affinitySlack,
                  all[id].queuedRequests - all[least].queuedRequests <= queueSlack else { continue }
            best = id
            bestHits = hits
        }
        return best
    }
}
