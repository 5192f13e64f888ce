import Cluster
import Testing
@testable import Engine

/// The scheduler's waiting queue runs in the order its batch policy gives, and each step admits
/// waiting requests while the policy admits them into the step's batch.
@Suite struct BatchPolicySchedulingTests {
    static let relaxed = LatencySLO(ttft: 10, tpot: 1)
    static let tight = LatencySLO(ttft: 1, tpot: 0.1)

    /// Five requests: (id, arrival, prompt tokens, SLO, predicted output tokens).
    func requests() -> [EngineRequest] {
        let shapes: [(Int, Int, LatencySLO, Int)] = [
            (1, 8, Self.relaxed, 100), (2, 2, Self.relaxed, 20), (3, 8, Self.tight, 300), (4, 4, Self.tight, 10), (5, 2, Self.tight, 5000),
        ]
        return shapes.enumerated().map { arrival, shape in
            EngineRequest(id: shape.0, prompt: Array(repeating: shape.0, count: shape.1), arrival: arrival,
                          slo: shape.2, predictedOutputTokens: shape.3)
        }
    }

    /// The ids each step admits from the waiting queue, steps until the queue is empty.
    func admissions(_ policy: any BatchPolicy) -> [[Int]] {
        let scheduler = Scheduler(config: SchedulerConfig(maxBatchedTokens: 64), blocks: BlockManager(blockCount: 64, blockSize: 4),
                                  policy: policy)
        for request in requests() { scheduler.add(request) }
        var steps: [[Int]] = []
        while !scheduler.waiting.isEmpty {
            let running = Set(scheduler.running.map(\.id))
            let output = scheduler.schedule()
            steps.append(output.entries.map(\.requestId).filter { !running.contains($0) })
            scheduler.complete(output)
            for request in scheduler.running { request.append(0) }
        }
        return steps
    }

    @Test func fcfsAdmitsInArrivalOrder() {
        #expect(admissions(FCFSBatcher()) == [[1, 2, 3, 4, 5]])
    }

    /// ModServe: virtual deadlines arrival + TTFT × min(1, tokens / reference): 10, 3.5, 3, 3.5, 4.25.
    @Test func shortFirstOrdersByVirtualDeadline() {
        #expect(admissions(SLOShortFirstBatcher(referenceTokens: 8)) == [[3, 2, 4, 5, 1]])
    }

    /// UELLM's SLO-ODBS: keys TTFT ms + 0.5 × predicted are 10050, 10010, 1150, 1005, 3500, so the
    /// tight class goes first; the batch stops where padding waste (Δpredicted × (n + 1) × 1.2)
    /// would pass 15000: 5 after [4, 3] (4700 × 3 × 1.2), 1 after [5, 2] (4900 × 3 × 1.2).
    @Test func sloOrderedServesTheTightClassFirstAndBoundsPadding() {
        #expect(admissions(SLOOrderedBatcher()) == [[4, 3], [5, 2], [1]])
    }

    @Test func aPreemptedRequestReturnsToItsPlaceInThePolicyOrder() {
        let loose = EngineRequest(id: 1, prompt: [1, 2, 3, 4], arrival: 1, slo: Self.relaxed, predictedOutputTokens: 8)
        let urgent = EngineRequest(id: 2, prompt: [5, 6, 7, 8], arrival: 2, slo: Self.tight, predictedOutputTokens: 8)
        let (_, blocks, prefill, out) = SchedulerTests.outOfBlocks(loose, urgent, policy: SLOOrderedBatcher())
        #expect(prefill.entries.map(\.requestId) == [2, 1])
        // Each needs a third block; the one last in policy order (the relaxed one, though it arrived first) yields.
        #expect(out.preempted == [1] && out.entries.map(\.requestId) == [2])
        #expect(blocks.checkInvariants(live: [urgent]))
    }

    @Test func importedKVTakesBlocksFromTheScheduler() {
        let blocks = BlockManager(blockCount: 3, blockSize: 4)
        let scheduler = Scheduler(config: SchedulerConfig(), blocks: blocks)
        let request = EngineRequest(id: 1, prompt: Array(0 ..< 10), arrival: 1)
        var written: [(blocks: Int, positions: Range<Int>)] = []
        let imported = scheduler.add(request, importing: 9, copy: { _ in }) { table, positions in written.append((table.count, positions)) }
        #expect(imported && written.map(\.blocks) == [3] && written.map(\.positions) == [0 ..< 9] && request.computedTokens == 9 && scheduler.waiting.map(\.id) == [1])
        #expect(scheduler.schedule().entries == [.init(requestId: 1, start: 9, tokens: 1)])
        // No blocks left: a second import allocates nothing and is not queued.
        let other = EngineRequest(id: 2, prompt: Array(20 ..< 30), arrival: 2)
        let refused = !scheduler.add(other, importing: 9, copy: { _ in }) { _, _ in Issue.record("wrote without blocks") }
        #expect(refused)
        #expect(other.blockTable.isEmpty && scheduler.waiting.isEmpty)
    }
}
