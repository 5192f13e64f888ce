/// EPD's intra-request parallelism (arXiv 2501.05460, §3.2 "Intra-request parallelism").
///
/// One request's images are split across encode workers (up to `maxShards`), so a request with
/// several images is encoded by several workers in parallel; the prefill instance pulls every
/// shard's features and merges them in the prompt's order. Images are dealt whole, largest first
/// to the shard with the fewest tokens so far (LPT), onto workers taken least-loaded first.
///
/// Deviation: the paper also cuts one image's crops across workers (InternVL tiles); our vision
/// encoders (CLIP/SigLIP, Qwen2-VL) attend over a whole image, so an image is the unit and a
/// single-image request is one shard. The simulator and the live front end split the same way.
///
/// ```swift
/// IntraRequestEncodeSplitter().shards(for: request, candidates: encoders, in: view)
/// // 4 images of 400, 300, 200, 100 tokens over 2 idle workers: [0, 3] (500) and [1, 2] (500)
/// ```
public struct IntraRequestEncodeSplitter: EncodeDispatcher {
    /// Upper bound on workers per request.
    public var maxShards: Int

    public init(maxShards: Int = 8) {
        self.maxShards = max(1, maxShards)
    }

    public func shards(for request: RequestInfo, candidates: [Int], in cluster: some ClusterView) -> [EncodeShard] {
        guard !request.images.isEmpty, !candidates.isEmpty else { return [] }
        let all = cluster.instances
        let ordered = candidates.sorted { (all[$0].pendingImageTokens, $0) < (all[$1].pendingImageTokens, $1) }
        let count = min(ordered.count, maxShards, request.images.count)
        var assigned = [[Int]](repeating: [], count: count)
        var tokens = [Int](repeating: 0, count: count)
        let largestFirst = request.images.indices.sorted { (-request.images[$0].tokens, $0) < (-request.images[$1].tokens, $1) }
        for image in largestFirst {
            let k = tokens.indices.min { (tokens[$0], $0) < (tokens[$1], $1) }!
            assigned[k].append(image)
            tokens[k] += request.images[image].tokens
        }
        return (0..<count).compactMap { k in
            assigned[k].isEmpty ? nil : EncodeShard(instance: ordered[k], imageIndices: assigned[k].sorted(), tokens: tokens[k])
        }
    }
}
