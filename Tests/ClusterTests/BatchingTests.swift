import Testing
@testable import Cluster

private func q(_ id: Int, arrival: Double, prompt: Int, predicted: Int = 100, ttft: Double = 1) -> QueuedRequest {
    QueuedRequest(id: id, arrival: arrival, promptTokens: prompt, predictedOutputTokens: predicted, slo: LatencySLO(ttft: ttft, tpot: 0.1))
}

@Test func fcfsKeepsArrivalOrderWithinLimits() {
    let queue = [q(0, arrival: 2, prompt: 100), q(1, arrival: 1, prompt: 300), q(2, arrival: 3, prompt: 200)]
    let batch = FCFSBatcher().formBatch(from: queue, limits: BatchLimits(maxRequests: 8, maxTokens: 450))
    #expect(batch.map(\.id) == [1, 0])
    // The first request always runs, even above the token budget.
    #expect(FCFSBatcher().formBatch(from: [q(0, arrival: 0, prompt: 9000)], limits: BatchLimits(maxRequests: 8, maxTokens: 100)).map(\.id) == [0])
}

@Test func shortFirstJumpsShortRequestsButBoundsLongOnes() {
    let policy = SLOShortFirstBatcher(referenceTokens: 1000)
    let long = q(0, arrival: 0, prompt: 4000, ttft: 2)   // key 2.0 (capped at its deadline)
    let short = q(1, arrival: 0.5, prompt: 100, ttft: 2) // key 0.7
    let lateShort = q(2, arrival: 2.5, prompt: 100, ttft: 2) // key 2.7: behind the long one
    let order = policy.formBatch(from: [long, short, lateShort], limits: BatchLimits(maxRequests: 8, maxTokens: 100_000)).map(\.id)
    #expect(order == [1, 0, 2])
}

@Test func sloOrderedBatcherStopsAtPaddingWaste() {
    let policy = SLOOrderedBatcher()
    let queue = [q(0, arrival: 0, prompt: 10, predicted: 5000), q(1, arrival: 0, prompt: 10, predicted: 10), q(2, arrival: 0, prompt: 10, predicted: 20)]
    // Ordered by SLO + 0.5·predicted: 10, 20, 5000; adding 5000 wastes (5000−20)·3·1.2 > 15000.
    #expect(policy.formBatch(from: queue, limits: BatchLimits(maxRequests: 64, maxTokens: 100_000)).map(\.id) == [1, 2])
    let many = (0..<20).map { q($0, arrival: 0, prompt: 1, predicted: 50) }
    #expect(policy.formBatch(from: many, limits: BatchLimits(maxRequests: 64, maxTokens: 100_000)).count == 10)
}
