/// A request waiting for a prefill batch, as a batch policy sees it.
public struct QueuedRequest: Sendable, Hashable {
    public var id: Int
    public var arrival: Double
    /// Prompt tokens the policy orders and pads by. Text prefix hits are not taken off, since an
    /// engine finds them only at admission (the live engine passes its whole prompt, image
    /// placeholders expanded); the simulator passes text plus the image tokens its image caches do
    /// not serve, weighted by the cost model's `imageTokenWeight`. For text prompts the two agree.
    public var promptTokens: Int
    public var predictedOutputTokens: Int
    public var slo: LatencySLO

    public init(id: Int, arrival: Double, promptTokens: Int, predictedOutputTokens: Int, slo: LatencySLO) {
        self.id = id
        self.arrival = arrival
        self.promptTokens = promptTokens
        self.predictedOutputTokens = predictedOutputTokens
        self.slo = slo
    }

    public init(_ request: RequestInfo, promptTokens: Int? = nil) {
        self.init(id: request.id, arrival: request.arrival, promptTokens: promptTokens ?? request.promptTokens,
                  predictedOutputTokens: request.predictedOutputTokens, slo: request.slo)
    }
}

/// Hard limits of one batch on an instance.
public struct BatchLimits: Sendable, Hashable, Codable {
    public var maxRequests: Int
    public var maxTokens: Int

    public init(maxRequests: Int, maxTokens: Int) {
        self.maxRequests = maxRequests
        self.maxTokens = maxTokens
    }
}

/// The batch formed so far, passed to ``BatchPolicy/admits(_:into:limits:)``.
public struct BatchSoFar: Sendable, Hashable {
    public var count = 0
    public var totalTokens = 0
    public var maxPromptTokens = 0
    public var maxPredictedOutputTokens = 0

    public init() {}

    public mutating func add(_ r: QueuedRequest) {
        count += 1
        totalTokens += r.promptTokens
        maxPromptTokens = max(maxPromptTokens, r.promptTokens)
        maxPredictedOutputTokens = max(maxPredictedOutputTokens, r.predictedOutputTokens)
    }
}

/// Orders a queue and decides how far a batch grows.
///
/// A policy is a fixed priority key (lower runs first; it must not change while the request waits,
/// so queues can be heaps) plus an admission test applied in priority order: the batch stops at
/// the first request it does not admit. The first request is always admitted, so work never stalls.
public protocol BatchPolicy: Sendable {
    func priority(of request: QueuedRequest) -> Double
    func admits(_ candidate: QueuedRequest, into batch: BatchSoFar, limits: BatchLimits) -> Bool
}

extension BatchPolicy {
    /// Forms the next batch from `queue`: the selected requests, in run order.
    ///
    /// ```swift
    /// let batch = FCFSBatcher().formBatch(from: queue, limits: BatchLimits(maxRequests: 8, maxTokens: 8192))
    /// ```
    public func formBatch(from queue: [QueuedRequest], limits: BatchLimits) -> [QueuedRequest] {
        let ordered = queue.sorted { (priority(of: $0), $0.id) < (priority(of: $1), $1.id) }
        var batch = BatchSoFar()
        var chosen: [QueuedRequest] = []
        for r in ordered {
            if batch.count > 0 && !admits(r, into: batch, limits: limits) { break }
            batch.add(r)
            chosen.append(r)
        }
        return chosen
    }

    /// The limit test every policy shares: request count and token budget.
    public func withinLimits(_ candidate: QueuedRequest, _ batch: BatchSoFar, _ limits: BatchLimits) -> Bool {
        batch.count < limits.maxRequests && batch.totalTokens + candidate.promptTokens <= limits.maxTokens
    }
}
