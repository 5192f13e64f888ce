/// What the diffusion policies may know about one image to generate: the request it belongs to,
/// its arrival, and its ``ImageGeneration`` (whose fields read through, e.g. `image.steps`).
/// `n` images of one API request are `n` of these.
///
/// ```swift
/// let image = ImageRequestInfo(id: 0, arrival: 0, generation: ImageGeneration(steps: 20, width: 512, height: 512, controlNets: ["canny"]))
/// image.controlNetCalls   // 40: one residual call per ControlNet per CFG row per step
/// ```
@dynamicMemberLookup
public struct ImageRequestInfo: Sendable, Hashable {
    public var id: Int
    /// Arrival time in seconds on the cluster clock.
    public var arrival: Double
    public var generation: ImageGeneration

    public init(id: Int, arrival: Double, generation: ImageGeneration) {
        self.id = id
        self.arrival = arrival
        self.generation = generation
    }

    public subscript<Value>(dynamicMember field: KeyPath<ImageGeneration, Value>) -> Value { generation[keyPath: field] }
}
