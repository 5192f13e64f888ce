/// Baseline routing: join the instance with the least queued work (fewest pending tokens for
/// encode/prefill, fewest running sequences for decode), as vLLM-style load balancers and
/// DistServe's dispatcher do. All images of a request go to one encoder.
public struct LeastLoadedRouter: RequestRouter, EncodeDispatcher {
    public init() {}

    public func route(_ request: RequestInfo, to stage: Stage, candidates: [Int], in cluster: some ClusterView) -> Int? {
        cluster.argmin(candidates) { LeastLoadedRouter.load($0, stage) }
    }

    public func shards(for request: RequestInfo, candidates: [Int], in cluster: some ClusterView) -> [EncodeShard] {
        guard !request.images.isEmpty,
              let target = cluster.argmin(candidates, { Double($0.pendingImageTokens + $0.pendingPrefillTokens) })
        else { return [] }
        return [EncodeShard(instance: target, imageIndices: Array(request.images.indices), tokens: request.imageTokens)]
    }

    static func load(_ s: InstanceStatus, _ stage: Stage) -> Double {
        switch stage {
        case .encode: Double(s.pendingImageTokens)
        case .prefill: Double(s.pendingPrefillTokens + s.pendingImageTokens)
        case .decode: Double(s.runningDecodes) + s.kvUtilization
        }
    }
}
