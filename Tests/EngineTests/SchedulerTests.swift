import Cluster
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

    /// Two 4-token prompts (ids 1 and 2) in 4 blocks of 2 under `policy`: the prefill step, then
    /// the step where each needs a third block for its decode token and only one can have it.
    static func outOfBlocks(_ first: EngineRequest, _ second: EngineRequest, policy: any BatchPolicy = FCFSBatcher())
        -> (scheduler: Scheduler, blocks: BlockManager, prefill: SchedulerOutput, decode: SchedulerOutput)
    {
        let blocks = BlockManager(blockCount: 4, blockSize: 2)
        let scheduler = Scheduler(config: SchedulerConfig(maxBatchedTokens: 16), blocks: blocks, policy: policy)
        scheduler.add(first)
        scheduler.add(second)
        let prefill = scheduler.schedule()
        scheduler.complete(prefill)
        first.append(0)
        second.append(0)
        return (scheduler, blocks, prefill, scheduler.schedule())
    }

    @Test func runningOutOfBlocksPreemptsTheLatestArrival() {
        let first = EngineRequest(id: 1, prompt: [1, 2, 3, 4], arrival: 1)
        let second = EngineRequest(id: 2, prompt: [5, 6, 7, 8], arrival: 2)
        let (scheduler, blocks, prefill, decode) = Self.outOfBlocks(first, second)
        #expect(prefill.entries.map(\.requestId) == [1, 2])
        #expect(decode.preempted == [2])
        #expect(decode.entries == [.init(requestId: 1, start: 4, tokens: 1)])
        #expect(scheduler.waiting.map(\.id) == [2] && second.computedTokens == 0)
        scheduler.finish(1)
        let out = scheduler.schedule()
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

/// Step composition under load: decodes are never starved by prefill, and a step that decodes
/// carries at most `maxPrefillTokensWhileDecoding` prompt tokens.
@Suite struct StepCompositionTests {
    /// Runs `step` to completion as the engine does: computed tokens advance, and a request with
    /// no prompt left gets a sampled token.
    static func complete(_ scheduler: Scheduler, _ output: SchedulerOutput, _ requests: [EngineRequest]) {
        scheduler.complete(output)
        for entry in output.entries {
            let request = requests.first { $0.id == entry.requestId }!
            if request.pendingTokens == 0 { request.append(7) }
        }
    }

    @Test func decodesComeFirstAndPrefillIsCappedWhileDecoding() {
        let config = SchedulerConfig(maxBatchedTokens: 64, maxRunningRequests: 8, maxPrefillTokensWhileDecoding: 10)
        let scheduler = Scheduler(config: config, blocks: BlockManager(blockCount: 256, blockSize: 4))
        let long = EngineRequest(id: 1, prompt: Array(repeating: 3, count: 200), arrival: 1)
        let short = EngineRequest(id: 2, prompt: [1, 2, 3], arrival: 2)
        let requests = [long, short]
        scheduler.add(long)
        scheduler.add(short)
        // Nothing decodes yet: the long prompt takes the whole step budget, the short one waits.
        var out = scheduler.schedule()
        #expect(out.entries == [.init(requestId: 1, start: 0, tokens: 64)])
        Self.complete(scheduler, out, requests)
        out = scheduler.schedule()
        #expect(out.entries == [.init(requestId: 1, start: 64, tokens: 64)])
        Self.complete(scheduler, out, requests)
        // The long prompt's last chunk leaves room: the short prompt is admitted beside it.
        out = scheduler.schedule()
        #expect(out.entries == [.init(requestId: 1, start: 128, tokens: 64)])
        Self.complete(scheduler, out, requests)
        out = scheduler.schedule()
        #expect(out.entries == [.init(requestId: 1, start: 192, tokens: 8), .init(requestId: 2, start: 0, tokens: 3)])
        Self.complete(scheduler, out, requests)

        // Both decode now; a new long prompt arrives behind a running prefill.
        let third = EngineRequest(id: 3, prompt: Array(repeating: 5, count: 40), arrival: 3)
        scheduler.add(third)
        out = scheduler.schedule()
        #expect(out.entries == [.init(requestId: 1, start: 200, tokens: 1), .init(requestId: 2, start: 3, tokens: 1),
                                .init(requestId: 3, start: 0, tokens: 10)])
        Self.complete(scheduler, out, requests + [third])
        // The running prefill comes after the decodes and within the cap, every step.
        for step in 1 ..< 4 {
            out = scheduler.schedule()
            #expect(out.entries.prefix(2).map(\.tokens) == [1, 1], "step \(step)")
            #expect(out.entries.dropFirst(2) == [.init(requestId: 3, start: 10 * step, tokens: 10)], "step \(step)")
            Self.complete(scheduler, out, requests + [third])
        }
        // Its prompt done, the third request decodes in the same step as the others.
        out = scheduler.schedule()
        #expect(out.entries.map(\.tokens) == [1, 1, 1])
    }

    /// Feeds the scheduler steps that took exactly 10 ms + 2 ms per prompt token + 4.5 ms per decode.
    static func teach(_ scheduler: Scheduler) {
        for (prefill, decodes) in [(64, 0), (16, 2), (8, 5), (32, 1), (0, 3), (4, 8)] {
            var step = EngineStep()
            step.prefillTokens = prefill
            step.decodeSequences = decodes
            step.seconds = 0.010 + 0.002 * Double(prefill) + 0.0045 * Double(decodes)
            scheduler.observe(step)
        }
    }

    @Test func stepTimeModelRecoversTheCostOfAStep() throws {
        let scheduler = Scheduler(config: SchedulerConfig(), blocks: BlockManager(blockCount: 8, blockSize: 4))
        #expect(scheduler.stepTimes.coefficients == nil)
        Self.teach(scheduler)
        let c = try #require(scheduler.stepTimes.coefficients)
        #expect(abs(c.fixed - 0.010) < 1e-6 && abs(c.perPromptToken - 0.002) < 1e-7 && abs(c.perDecode - 0.0045) < 1e-6)
        // (50 − 10 − 2 × 4.5) ms of room at 2 ms a token.
        let budget = StepTimeBudget(milliseconds: 50), model = scheduler.stepTimes
        #expect(budget.room(decoding: 2, cap: 512, minimumChunk: 4) { model.seconds(prefillTokens: $0, decodeSequences: $1) }
                == StepTimeBudget.Room(tokens: 15, admits: true))
        #expect(budget.room(decoding: 20, cap: 512, minimumChunk: 4) { model.seconds(prefillTokens: $0, decodeSequences: $1) }
                == StepTimeBudget.Room(tokens: 4, admits: false))
    }

    /// A burst of four 20-token prompts arrives while one request decodes, with a 50 ms step target:
    /// every step decodes every running request first, and its prompt tokens are what the fitted
    /// step time leaves (17, 17, 15, 13 tokens as 1, 1, 2, 3 requests decode), admitted in arrival
    /// order up to the running cap.
    @Test func aBurstIsPrefilledWithinTheStepTimeTarget() {
        let config = SchedulerConfig(maxBatchedTokens: 64, maxRunningRequests: 4, maxPrefillTokensWhileDecoding: 32,
                                     stepTimeTarget: 0.05)
        let scheduler = Scheduler(config: config, blocks: BlockManager(blockCount: 64, blockSize: 4))
        Self.teach(scheduler)
        let first = EngineRequest(id: 1, prompt: [1, 2, 3], arrival: 1)
        scheduler.add(first)
        var out = scheduler.schedule()
        #expect(out.entries == [.init(requestId: 1, start: 0, tokens: 3)])
        var requests = [first]
        Self.complete(scheduler, out, requests)

        // Distinct prompts, so that the prefix cache does not shorten them.
        let burst = (2 ... 5).map { EngineRequest(id: $0, prompt: Array(repeating: 10 * $0, count: 20), arrival: $0) }
        requests += burst
        for request in burst { scheduler.add(request) }
        let expected: [[SchedulerOutput.Entry]] = [
            [.init(requestId: 1, start: 3, tokens: 1), .init(requestId: 2, start: 0, tokens: 17)],
            [.init(requestId: 1, start: 4, tokens: 1), .init(requestId: 2, start: 17, tokens: 3),
             .init(requestId: 3, start: 0, tokens: 14)],
            [.init(requestId: 1, start: 5, tokens: 1), .init(requestId: 2, start: 20, tokens: 1),
             .init(requestId: 3, start: 14, tokens: 6), .init(requestId: 4, start: 0, tokens: 9)],
            [.init(requestId: 1, start: 6, tokens: 1), .init(requestId: 2, start: 21, tokens: 1),
             .init(requestId: 3, start: 20, tokens: 1), .init(requestId: 4, start: 9, tokens: 11)],
            // Four running: the fifth waits for a slot; everyone decodes.
            [.init(requestId: 1, start: 7, tokens: 1), .init(requestId: 2, start: 22, tokens: 1),
             .init(requestId: 3, start: 21, tokens: 1), .init(requestId: 4, start: 20, tokens: 1)],
        ]
        for (step, entries) in expected.enumerated() {
            out = scheduler.schedule()
            #expect(out.entries == entries, "step \(step)")
            Self.complete(scheduler, out, requests)
        }
        scheduler.finish(1)
        out = scheduler.schedule()
        #expect(out.entries.map(\.tokens) == [1, 1, 1, 13])
    }

    /// Nine decodes fill the 50 ms target (10 + 9 × 4.5 ms): nothing is admitted, and a running
    /// prefill advances by a block.
    @Test func aFullTargetAdmitsNothingAndPrefillsAdvanceByABlock() {
        let config = SchedulerConfig(maxBatchedTokens: 64, maxRunningRequests: 16, maxPrefillTokensWhileDecoding: 6,
                                     stepTimeTarget: 0.05)
        let scheduler = Scheduler(config: config, blocks: BlockManager(blockCount: 64, blockSize: 4))
        let decoders = (1 ... 9).map { EngineRequest(id: $0, prompt: [1], arrival: $0) }
        let b = EngineRequest(id: 10, prompt: Array(repeating: 2, count: 10), arrival: 10)
        let c = EngineRequest(id: 11, prompt: [3, 3], arrival: 11)
        let requests = decoders + [b, c]
        for request in decoders { scheduler.add(request) }
        Self.complete(scheduler, scheduler.schedule(), requests)
        // No step times yet: the token cap alone.
        scheduler.add(b)
        var out = scheduler.schedule()
        #expect(out.entries.map(\.tokens) == Array(repeating: 1, count: 9) + [6])
        Self.complete(scheduler, out, requests)
        Self.teach(scheduler)
        scheduler.add(c)
        out = scheduler.schedule()
        #expect(out.entries.map(\.requestId) == Array(1 ... 10) && out.entries.last == .init(requestId: 10, start: 6, tokens: 4))
        Self.complete(scheduler, out, requests)
        #expect(scheduler.schedule().entries.map(\.requestId) == Array(1 ... 10))
        // With nothing decoding, the waiting request runs.
        for request in decoders + [b] { scheduler.finish(request.id) }
        #expect(scheduler.schedule().entries == [.init(requestId: 11, start: 0, tokens: 2)])
    }

    /// A 1 ms target is below twice a one-sequence decode step (2 × 14.5 ms): that is the target
    /// instead, so the step beside one decode carries (29 − 14.5) / 2 = 7 prompt tokens.
    @Test func aTargetTheModelCannotMeetBecomesTwoDecodeSteps() {
        let config = SchedulerConfig(maxBatchedTokens: 64, stepTimeTarget: 0.001)
        let scheduler = Scheduler(config: config, blocks: BlockManager(blockCount: 64, blockSize: 4))
        Self.teach(scheduler)
        let a = EngineRequest(id: 1, prompt: [1], arrival: 1)
        let b = EngineRequest(id: 2, prompt: Array(repeating: 2, count: 20), arrival: 2)
        scheduler.add(a)
        Self.complete(scheduler, scheduler.schedule(), [a])
        scheduler.add(b)
        #expect(scheduler.schedule().entries == [.init(requestId: 1, start: 1, tokens: 1), .init(requestId: 2, start: 0, tokens: 7)])
    }

    @Test func runningRequestsAreCapped() {
        let scheduler = Scheduler(config: SchedulerConfig(maxBatchedTokens: 100, maxRunningRequests: 2),
                                  blocks: BlockManager(blockCount: 64, blockSize: 4))
        let requests = (1 ... 3).map { EngineRequest(id: $0, prompt: [1, 2], arrival: $0) }
        for request in requests { scheduler.add(request) }
        let out = scheduler.schedule()
        #expect(out.entries.map(\.requestId) == [1, 2])
        Self.complete(scheduler, out, requests)
        #expect(scheduler.schedule().entries.map(\.requestId) == [1, 2])
        scheduler.finish(1)
        #expect(scheduler.schedule().entries.map(\.requestId) == [2, 3])
    }
}
