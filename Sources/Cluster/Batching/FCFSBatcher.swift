/// First-come first-served batching: arrival order, filled up to the count and token limits.
/// The baseline of vLLM, DistServe and UELLM's comparisons.
public struct FCFSBatcher: BatchPolicy {
    public init() {}

    public func priority(of request: QueuedRequest) -> Double { request.arrival }

    public func admits(_ candidate: QueuedRequest, into batch: BatchSoFar, limits: BatchLimits) -> Bool {
        withinLimits(candidate, batch, limits)
    }
}
