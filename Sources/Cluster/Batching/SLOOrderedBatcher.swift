/// UELLM's SLO-ODBS batch scheduler (arXiv 2409.14961, §4.2, Algorithm 1).
///
/// Requests are ordered by `SLO + 0.5 × predicted output length` (SLO in milliseconds, as in the
/// paper's code), and a batch grows while it has fewer than `maxBatch` requests and the padding
/// waste of adding the next one, `(predicted − current max) × (|batch| + 1) × 1.2`, stays within
/// `maxPaddingWaste` tokens. Grouping similar predicted lengths bounds the padding of static
/// (run-to-completion) batches.
public struct SLOOrderedBatcher: BatchPolicy {
    public var maxBatch: Int
    public var maxPaddingWaste: Double
    public var outputWeight: Double

    public init(maxBatch: Int = 10, maxPaddingWaste: Double = 15000, outputWeight: Double = 0.5) {
        self.maxBatch = maxBatch
        self.maxPaddingWaste = maxPaddingWaste
        self.outputWeight = outputWeight
    }

    public func priority(of request: QueuedRequest) -> Double {
        request.slo.ttft * 1000 + outputWeight * Double(request.predictedOutputTokens)
    }

    public func admits(_ candidate: QueuedRequest, into batch: BatchSoFar, limits: BatchLimits) -> Bool {
        guard withinLimits(candidate, batch, limits), batch.count < maxBatch else { return false }
        let growth = Double(abs(candidate.predictedOutputTokens - batch.maxPredictedOutputTokens))
        return growth * Double(batch.count + 1) * 1.2 <= maxPaddingWaste
    }
}
