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
    func hasCached(imageHash: UInt64, on instance: Int) -> Bool
}

/// A plain snapshot conforming to ``ClusterView``: handy for tests and for one-shot decisions.
public struct ClusterSnapshot: ClusterView, Sendable {
    public var now: Double
    public var instances: [InstanceStatus]
    /// Cached image hashes per instance id.
    public var cachedImages: [Int: Set<UInt64>]

    public init(now: Double = 0, instances: [InstanceStatus], cachedImages: [Int: Set<UInt64>] = [:]) {
        self.now = now
        self.instances = instances
        self.cachedImages = cachedImages
    }

    public func hasCached(imageHash: UInt64, on instance: Int) -> Bool {
        cachedImages[instance]?.contains(imageHash) ?? false
    }
}
