/// One routing decision as both executors record it: the instance a request's stage went to, and
/// for an encode shard the images (indices into the request's) it carries. The simulator and the
/// live front end record the same decisions for the same trace (a replay test compares them).
///
/// ```swift
/// RoutingDecision(request: 3, stage: .encode, instance: 2, images: [0, 3])
/// ```
public struct RoutingDecision: Sendable, Hashable, CustomStringConvertible {
    public var request: Int
    public var stage: Stage
    public var instance: Int
    /// The shard's images; empty for prefill and decode.
    public var images: [Int]

    public init(request: Int, stage: Stage, instance: Int, images: [Int] = []) {
        self.request = request
        self.stage = stage
        self.instance = instance
        self.images = images
    }

    public var description: String {
        "request \(request) \(stage.rawValue) → \(instance)" + (images.isEmpty ? "" : " images \(images)")
    }
}
