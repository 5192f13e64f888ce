import CoreUtilities

/// The read-only view of a cluster that every policy decides on.
///
/// The simulator and the live front end both implement it; policies never see anything else,
/// so one policy object runs unchanged in both.
///
/// ```swift
/// let target = router.route(request, to: .prefill, candidates: [0, 3], in: cluster)
/// ```
public protocol ClusterView {
    /// Seconds on the cluster clock.
    var now: Double { get }
    /// All instances, indexed by ``InstanceStatus/id``, including inactive ones.
    var instances: [InstanceStatus] { get }
    /// Whether the instance holds this image's encoder output or its KV prefix in a cache.
    func hasCached(image: ImageID, on instance: Int) -> Bool
    /// Tokens at the start of the request's prompt whose KV the instance is known to hold, from
    /// ``RequestInfo/promptBlockHashes``; 0 where the view keeps no such record.
    func cachedPrefixTokens(of request: RequestInfo, on instance: Int) -> Int
    /// The LoRA names a diffusion worker holds in its adapter cache (live: as its last heartbeat
    /// said); empty where the view keeps no such record.
    func cachedLoRAs(on instance: Int) -> Set<String>
}

extension ClusterView {
    public func cachedPrefixTokens(of request: RequestInfo, on instance: Int) -> Int { 0 }
    public func cachedLoRAs(on instance: Int) -> Set<String> { [] }

    /// Prompt tokens the instance need not compute for `request`: its cached prefix, except that the
    /// prompt's last token is always computed (its logits pick the first output token, as the
    /// engine's block manager leaves it), so a prompt cached to its end computes its last block again.
    /// What a request adds to an instance's pending prefill tokens is its prompt less these, live
    /// and simulated alike.
    ///
    /// ```swift
    /// let toCompute = request.textTokens - view.reusedPrefixTokens(of: request, on: target)
    /// ```
    public func reusedPrefixTokens(of request: RequestInfo, on instance: Int) -> Int {
        let cached = cachedPrefixTokens(of: request, on: instance)
        guard cached >= request.textTokens, cached > 0 else { return cached }
        return cached - cached / request.promptBlockHashes.count
    }
}

/// A plain snapshot conforming to ``ClusterView``: handy for tests and for one-shot decisions.
public struct ClusterSnapshot: ClusterView, Sendable {
    public var now: Double
    public var instances: [InstanceStatus]
    /// Cached images per instance id.
    public var cachedImages: [Int: Set<ImageID>]
    /// Prompt blocks each instance id has computed.
    public var cachedPrefixes: [Int: PrefixCacheIndex]
    /// LoRA names in each diffusion worker's adapter cache.
    public var loras: [Int: Set<String>]

    public init(now: Double = 0, instances: [InstanceStatus], cachedImages: [Int: Set<ImageID>] = [:],
                cachedPrefixes: [Int: PrefixCacheIndex] = [:], loras: [Int: Set<String>] = [:]) {
        self.now = now
        self.instances = instances
        self.cachedImages = cachedImages
        self.cachedPrefixes = cachedPrefixes
        self.loras = loras
    }

    public func cachedLoRAs(on instance: Int) -> Set<String> { loras[instance] ?? [] }

    public func cachedPrefixTokens(of request: RequestInfo, on instance: Int) -> Int {
        cachedPrefixes[instance]?.cachedTokens(request.promptBlockHashes) ?? 0
    }

    public func hasCached(image: ImageID, on instance: Int) -> Bool {
        cachedImages[instance]?.contains(image) ?? false
    }
}
