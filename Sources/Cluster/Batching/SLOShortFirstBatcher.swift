/// ModServe's SLO-driven request scheduling favouring short requests (arXiv 2502.00937, §5.3).
///
/// The paper prioritises short requests while keeping long ones within their SLO. We express that
/// as earliest-virtual-deadline-first with a fixed key: `arrival + ttftSLO * min(1, tokens / referenceTokens)`.
/// Short prompts get early virtual deadlines and jump the queue; a long prompt's key never exceeds
/// its real TTFT deadline, so it cannot starve behind an endless stream of short ones.
public struct SLOShortFirstBatcher: BatchPolicy {
    /// Prompt size (tokens) at and above which a request is ordered by its real deadline.
    public var referenceTokens: Double

    public init(referenceTokens: Double = 4096) {
        self.referenceTokens = max(1, referenceTokens)
    }

    public func priority(of request: QueuedRequest) -> Double {
        request.arrival + request.slo.ttft * min(1, Double(request.promptTokens) / referenceTokens)
    }

    public func admits(_ candidate: QueuedRequest, into batch: BatchSoFar, limits: BatchLimits) -> Bool {
        withinLimits(candidate, batch, limits)
    }
}
