/// EPD's intra-request parallelism (arXiv 2501.05460, §3.2 "Intra-request parallelism").
///
/// One request's image tokens are cut into equal shards, one per encode worker (up to
/// `maxShards`), so even a single large image is encoded by several workers in parallel and the
/// prefill instance merges the pieces. Workers are taken least-loaded first.
public struct IntraRequestEncodeSplitter: EncodeDispatcher {
    /// Upper bound on workers per request.
    public var maxShards: Int
    /// Shards smaller than this many tokens are not worth a worker.
    public var minTokensPerShard: Int

    public init(maxShards: Int = 8, minTokensPerShard: Int = 64) {
        self.maxShards = max(1, maxShards)
        self.minTokensPerShard = max(1, minTokensPerShard)
    }

    public func shards(for request: RequestInfo, candidates: [Int], in cluster: some ClusterView) -> [EncodeShard] {
        let total = request.imageTokens
        guard total > 0, !candidates.isEmpty else { return [] }
        let all = cluster.instances
        let ordered = candidates.sorted { (all[$0].pendingImageTokens, $0) < (all[$1].pendingImageTokens, $1) }
        let count = min(ordered.count, maxShards, max(1, total / minTokensPerShard))
        let indices = Array(request.images.indices)
        return (0..<count).map { k in
            let tokens = total / count + (k < total % count ? 1 : 0)
            // Every shard carries the image list: the prefill side merges by position.
            return EncodeShard(instance: ordered[k], imageIndices: indices, tokens: tokens)
        }
    }
}
