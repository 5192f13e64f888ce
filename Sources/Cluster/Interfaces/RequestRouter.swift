/// Chooses the instance that runs a stage of a request.
///
/// `candidates` are the ids of active instances able to run `stage` for the request's group;
/// the caller filters them so routers stay free of deployment rules.
public protocol RequestRouter: Sendable {
    /// Returns one of `candidates`, or nil when it is empty.
    func route(_ request: RequestInfo, to stage: Stage, candidates: [Int], in cluster: some ClusterView) -> Int?
}

/// One piece of a request's encoding work placed on an encode-capable instance.
public struct EncodeShard: Sendable, Hashable {
    public var instance: Int
    /// Indices into ``RequestInfo/images`` of the images this shard covers.
    public var imageIndices: [Int]
    /// Image tokens the shard encodes: the sum over its images.
    public var tokens: Int

    public init(instance: Int, imageIndices: [Int], tokens: Int) {
        self.instance = instance
        self.imageIndices = imageIndices
        self.tokens = tokens
    }
}

/// Splits a request's images over encode instances.
public protocol EncodeDispatcher: Sendable {
    /// Shards covering every image of `request`; empty when it has no images or `candidates` is empty.
    func shards(for request: RequestInfo, candidates: [Int], in cluster: some ClusterView) -> [EncodeShard]
}

extension ClusterView {
    /// The candidate with the smallest `key`, then the fewest queued requests (so a busy instance
    /// with an empty queue loses to an idle one), then the lowest id, so decisions are deterministic.
    func argmin(_ candidates: [Int], _ key: (InstanceStatus) -> Double) -> Int? {
        let all = instances
        var best: Int?
        var bestKey = (Double.infinity, Int.max, Int.max)
        for id in candidates {
            let k = (key(all[id]), all[id].queuedRequests, id)
            if best == nil || k < bestKey {
                best = id
                bestKey = k
            }
        }
        return best
    }
}
