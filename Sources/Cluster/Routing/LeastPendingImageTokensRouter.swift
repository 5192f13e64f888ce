/// ModServe's modality-aware routing (arXiv 2502.00937, §5.3 "Request routing").
///
/// Each image goes to the Image Instance with the fewest pending image tokens, counting the images
/// of the same request already placed, so a multi-image request spreads across instances. Text work
/// (prefill, decode) goes to the instance with the fewest pending tokens.
///
/// ```swift
/// let shards = LeastPendingImageTokensRouter().shards(for: request, candidates: encoders, in: cluster)
/// ```
public struct LeastPendingImageTokensRouter: RequestRouter, EncodeDispatcher {
    public init() {}

    public func route(_ request: RequestInfo, to stage: Stage, candidates: [Int], in cluster: some ClusterView) -> Int? {
        cluster.argmin(candidates) { LeastLoadedRouter.load($0, stage) }
    }

    public func shards(for request: RequestInfo, candidates: [Int], in cluster: some ClusterView) -> [EncodeShard] {
        guard !request.images.isEmpty, !candidates.isEmpty else { return [] }
        let all = cluster.instances
        var pending = Dictionary(uniqueKeysWithValues: candidates.map { ($0, all[$0].pendingImageTokens) })
        var byInstance: [Int: EncodeShard] = [:]
        // Largest images first so the spread balances like longest-processing-time scheduling.
        let order = request.images.indices.sorted { request.images[$0].tokens > request.images[$1].tokens || (request.images[$0].tokens == request.images[$1].tokens && $0 < $1) }
        for index in order {
            var target = candidates[0]
            for id in candidates where pending[id, default: 0] < pending[target, default: 0]
                || (pending[id, default: 0] == pending[target, default: 0] && id < target) {
                target = id
            }
            let tokens = request.images[index].tokens
            pending[target, default: 0] += tokens
            byInstance[target, default: EncodeShard(instance: target, imageIndices: [], tokens: 0)].imageIndices.append(index)
            byInstance[target]?.tokens += tokens
        }
        return byInstance.values.sorted { $0.instance < $1.instance }
    }
}
