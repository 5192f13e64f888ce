import Testing
@testable import Engine

@Suite struct SchedulerTests {
    @Test func decodeFirstThenChunkedPrefillWithinTheBudget() {
        let scheduler = Scheduler(config: SchedulerConfig(maxBatchedTokens: 8), blocks: BlockManager(blockCount: 32, blockSize: 4))
        let a = EngineRequest(id: 1, prompt: [1, 2, 3], arrival: 1)
        scheduler.add(a)
        var out = scheduler.schedule()
        #expect(out.entries == [.init(requestId: 1, start: 0, tokens: 3)])
        scheduler.complete(out)
        a.append(9)

        let long = EngineRequest(id: 2, prompt: Array(10 ..< 30), arrival: 2)
        scheduler.add(long)
        out = scheduler.schedule()
        // The decode token of request 1 goes first; the new prompt gets the remaining 7 tokens.
        #expect(out.entries == [.init(requestId: 1, start: 3, tokens: 1), .init(requestId: 2, start: 0, tokens: 7)])
        scheduler.complete(out)
        a.append(9)
        out = scheduler.schedule()
        #expect(out.entries == [.init(requestId: 1, start: 4, tokens: 1), .init(requestId: 2, start: 7, tokens: 7)])
    }

    @Test func runningOutOfBlocksPreemptsTheLatestArrival() {
        let blocks = BlockManager(blockCount: 4, blockSize: 2)
        let scheduler = Scheduler(config: SchedulerConfig(maxBatchedTokens: 16), blocks: blocks)
        let first = EngineRequest(id: 1, prompt: [1, 2, 3, 4], arrival: 1)
        let second = EngineRequest(id: 2, prompt: [5, 6, 7, 8], arrival: 2)
        scheduler.add(first)
        scheduler.add(second)
        var out = scheduler.schedule()
        #expect(out.entries.map(\.requestId) == [1, 2])
        scheduler.complete(out)
        first.append(0)
        second.append(0)
        // Each needs a third block for its decode token; only one can have it.
        out = scheduler.schedule()
        #expect(out.preempted == [2])
        #expect(out.entries == [.init(requestId: 1, start: 4, tokens: 1)])
        #expect(scheduler.waiting.map(\.id) == [2] && second.computedTokens == 0)
        scheduler.finish(1)
        out = scheduler.schedule()
        // Recompute: the preempted request runs its whole sequence again (prompt + output so far),
        // reusing its own cached full blocks.
        #expect(out.entries.first?.requestId == 2)
        #expect(blocks.checkInvariants(live: [second]))
    }

    @Test func prefixHitsAreCounted() {
        let scheduler = Scheduler(config: SchedulerConfig(), blocks: BlockManager(blockCount: 32, blockSize: 4))
        let a = EngineRequest(id: 1, prompt: Array(0 ..< 9), arrival: 1)
        scheduler.add(a)
        scheduler.complete(scheduler.schedule())
        scheduler.add(EngineRequest(id: 2, prompt: Array(0 ..< 9), arrival: 2))
        let out = scheduler.schedule()
        #expect(out.entries.last == .init(requestId: 2, start: 8, tokens: 1))
        #expect(scheduler.prefixQueriedTokens == 18 && scheduler.prefixHitTokens == 8)
    }
}
