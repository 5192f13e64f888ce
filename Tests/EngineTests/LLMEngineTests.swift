import Cluster
import Foundation
import ServingAPI
import TestFixtures
import Testing
@testable import Engine

@Suite struct LLMEngineTests {
    func engine(_ name: String, configure: (inout EngineConfig) -> Void = { _ in }) throws -> LLMEngine {
        var config = EngineConfig()
        config.blockSize = 4
        config.kvCacheMemoryBytes = 8 << 20
        configure(&config)
        return try LLMEngine(directory: Fixtures.directory(name), config: config)
    }

    @Test(arguments: Fixtures.names)
    func concurrentRequestsGiveTheSingleRequestGreedyOutputs(_ name: String) async throws {
        let engine = try engine(name)
        let prompts = try Fixtures.reference(name).prompts
        // Each prompt three times, all in flight together: batching, chunking and prefix sharing must not change results.
        let results = try await withThrowingTaskGroup(of: (Int, Fixtures.Collected).self) { group in
            for i in 0 ..< prompts.count * 3 {
                let stream = try engine.submit(InferenceRequest(prompt: .tokens(prompts[i % prompts.count].prompt_token_ids),
                                                                parameters: Fixtures.greedy(16)))
                group.addTask { (i, try await Fixtures.collect(stream)) }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == prompts.count * 3)
        for (i, result) in results {
            let prompt = prompts[i % prompts.count]
            #expect(result.ids == prompt.greedy_token_ids)
            #expect(result.info?.reason == .length && result.info?.completionTokens == 16)
            #expect(result.info?.promptTokens == prompt.prompt_token_ids.count)
        }
        await engine.shutdown(gracePeriod: .seconds(5))
        #expect(engine.statistics().kvCacheUsage == 0)
    }

    /// A repeated prompt computes only its last token: full blocks are shared and its last, partial
    /// block is copied from the first request's.
    @Test func aRepeatedPromptHitsThePrefixCache() async throws {
        let engine = try engine("llama-sp")
        let reference = try Fixtures.reference("llama-sp").prompts[1]
        let prompt = reference.prompt_token_ids
        #expect(prompt.count % 4 != 0, "the prompt must end inside a block")
        let first = try await Fixtures.collect(try engine.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(2))))
        let second = try await Fixtures.collect(try engine.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(4))))
        #expect(first.info?.cachedTokens == 0)
        #expect(second.info?.cachedTokens == prompt.count - 1)
        #expect(second.ids == Array(reference.greedy_token_ids.prefix(4)))
        await engine.shutdown(gracePeriod: .seconds(1))
    }

    /// A prompt that leaves a cached one only at its last token reuses every token before it, here
    /// from a block the first request filled with its output, and generates what an engine with an
    /// empty cache generates: the copied KV is the right KV.
    @Test func aPromptEndingInsideACachedBlockCopiesItsSharedPart() async throws {
        let warm = try engine("llama-sp"), cold = try engine("llama-sp")
        let prompt = try Fixtures.reference("llama-sp").prompts[1].prompt_token_ids
        _ = try await Fixtures.collect(try warm.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(12))))
        let variant = Array(prompt.dropLast()) + [prompt.last == 100 ? 101 : 100]
        let seeded = try await Fixtures.collect(try warm.submit(InferenceRequest(prompt: .tokens(variant), parameters: Fixtures.greedy(12))))
        let expected = try await Fixtures.collect(try cold.submit(InferenceRequest(prompt: .tokens(variant), parameters: Fixtures.greedy(12))))
        #expect(seeded.info?.cachedTokens == prompt.count - 1)
        #expect(expected.info?.cachedTokens == 0)
        #expect(seeded.ids == expected.ids)
        await warm.shutdown(gracePeriod: .seconds(1))
        await cold.shutdown(gracePeriod: .seconds(1))
        #expect(warm.statistics().kvCacheUsage == 0)
    }

    @Test func cancellingTheConsumerAbortsAndFreesBlocks() async throws {
        let engine = try engine("llama-gqa")
        let prompt = try Fixtures.reference("llama-gqa").prompts[0].prompt_token_ids
        let stream = try engine.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(200)))
        let consumer = Task {
            var n = 0
            for try await _ in stream { n += 1 }
            return n
        }
        try await Task.sleep(for: .milliseconds(50))
        consumer.cancel()
        _ = try? await consumer.value
        // The engine notices the abort within a step or two.
        for _ in 0 ..< 200 where engine.statistics().runningRequests > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(engine.statistics().runningRequests == 0 && engine.statistics().kvCacheUsage == 0)
        await engine.shutdown(gracePeriod: .seconds(1))
    }

    @Test func overloadAndBadInputAreRefusedUpFront() async throws {
        let engine = try engine("llama-gqa") { $0.maxQueuedRequests = 1 }
        let prompt = try Fixtures.reference("llama-gqa").prompts[0].prompt_token_ids
        #expect(throws: EngineError.invalidRequest("the prompt is empty")) {
            try engine.submit(InferenceRequest(prompt: .tokens([]), parameters: Fixtures.greedy(1)))
        }
        #expect(throws: EngineError.self) {
            try engine.submit(InferenceRequest(prompt: .tokens([1_000_000]), parameters: Fixtures.greedy(1)))
        }
        #expect(throws: EngineError.self) {
            try engine.submit(InferenceRequest(prompt: .tokens(prompt), parameters: SamplingParameters(topP: 2)))
        }
        // Fill the queue faster than the loop can start them; at least one submission is refused as overload.
        var refused = 0
        var streams: [AsyncThrowingStream<InferenceEvent, any Error>] = []
        for _ in 0 ..< 50 {
            do { streams.append(try engine.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(2)))) }
            catch EngineError.overloaded { refused += 1 }
        }
        #expect(refused > 0)
        for stream in streams { _ = try await Fixtures.collect(stream) }
        await engine.shutdown(gracePeriod: .seconds(1))
        #expect(throws: EngineError.shuttingDown) {
            try engine.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(1)))
        }
    }
}

/// The batch policy and output-length predictor drive a live engine.
@Suite struct LiveBatchPolicyTests {
    /// Serves, one request at a time, a blocker and then `requests` (label, SLO class, prompt) in
    /// that arrival order; returns the labels in the order the requests started (submission time
    /// plus the time each waited in the queue, as the engine reports it; each runs 96 steps, so
    /// starts lie far apart). The blocker is
    /// cancelled once every request is queued, so all of them wait together when the queue is ordered.
    /// On a machine so loaded that the blocker ends before that, the run is repeated.
    func startOrder(_ policy: any BatchPolicy, predictor: OutputLengthPredictor? = nil,
                    requests: [(label: String, sloClass: String, prompt: String)]) async throws -> [String] {
        for _ in 0 ..< 5 {
            if let order = try await attempt(policy, predictor: predictor, requests: requests) { return order }
        }
        Issue.record("the blocker always finished before every request was queued")
        return []
    }

    func attempt(_ policy: any BatchPolicy, predictor: OutputLengthPredictor?,
                 requests: [(label: String, sloClass: String, prompt: String)]) async throws -> [String]? {
        var config = EngineConfig()
        config.blockSize = 4
        config.kvCacheMemoryBytes = 8 << 20
        config.scheduler = SchedulerConfig(maxRunningRequests: 1)
        config.batchPolicy = policy
        // The blocker's class runs it before anything queued with it, under any of the policies.
        config.sloClasses = try SLOClasses(definitions: ["relaxed=30", "tight=0.5", "blocker=0.01"])
        config.outputLengthPredictor = predictor
        let engine = try LLMEngine(directory: Fixtures.directory("llama-sp"), config: config)
        let blocker = try engine.submit(InferenceRequest(
            prompt: .text("hold"), parameters: Fixtures.greedy(engine.servedModel.contextLength - 8), sloClass: "blocker"))
        let blocking = Task { () -> FinishReason? in
            var reason: FinishReason?
            for try await event in blocker { if case let .finished(info) = event { reason = info.reason } }
            return reason
        }
        let clock = ContinuousClock()
        let starts = try await withThrowingTaskGroup(of: (String, ContinuousClock.Instant).self) { group in
            for request in requests {
                let submitted = clock.now
                let stream = try engine.submit(InferenceRequest(prompt: .text(request.prompt), parameters: Fixtures.greedy(96),
                                                                sloClass: request.sloClass))
                group.addTask {
                    var queued = 0.0
                    for try await event in stream { if case let .finished(info) = event { queued = info.timings.queued } }
                    return (request.label, submitted + .seconds(queued))
                }
            }
            blocking.cancel()
            return try await group.reduce(into: []) { $0.append($1) }
        }
        await engine.shutdown(gracePeriod: .seconds(5))
        #expect(engine.statistics().kvCacheUsage == 0)
        guard try await blocking.value == nil else { return nil }
        return starts.sorted { $0.1 < $1.1 }.map(\.0)
    }

    @Test func sloOrderedServesTheTightClassBeforeEarlierRelaxedRequests() async throws {
        let requests = (0 ..< 3).map { ("relaxed", "relaxed", "a relaxed request \($0)") } + (0 ..< 3).map { ("tight", "tight", "a tight request \($0)") }
        #expect(try await startOrder(SLOOrderedBatcher(), requests: requests) == ["tight", "tight", "tight", "relaxed", "relaxed", "relaxed"])
        #expect(try await startOrder(FCFSBatcher(), requests: requests) == ["relaxed", "relaxed", "relaxed", "tight", "tight", "tight"])
    }

    /// In one class, SLO-ODBS runs the request predicted shorter first; without a predictor both
    /// count as max_tokens and arrival order stands.
    @Test func thePredictorOrdersRequestsOfOneClass() async throws {
        let samples = (0 ..< 40).map { i in
            i % 2 == 0 ? OutputLengthPredictor.Sample(prompt: "write a long essay \(i)", promptTokens: 6, outputTokens: 30)
                : OutputLengthPredictor.Sample(prompt: "answer yes or no \(i)", promptTokens: 6, outputTokens: 2)
        }
        var options = OutputLengthPredictor.TrainingOptions()
        options.classBounds = [4, 16]
        let predictor = try OutputLengthPredictor.train(samples: samples, options: options)
        let requests = [("essay", "tight", "write a long essay please"), ("yes-no", "tight", "answer yes or no please")]
        #expect(try await startOrder(SLOOrderedBatcher(), predictor: predictor, requests: requests) == ["yes-no", "essay"])
        #expect(try await startOrder(SLOOrderedBatcher(), requests: requests) == ["essay", "yes-no"])
    }

    @Test func anUnknownSLOClassIsRefused() async throws {
        let engine = try LLMEngine(directory: Fixtures.directory("llama-gqa"), config: EngineConfig())
        #expect(throws: EngineError.invalidRequest("unknown slo_class 'urgent'; this server knows batch, interactive, standard")) {
            _ = try engine.submit(InferenceRequest(prompt: .text("hi"), parameters: Fixtures.greedy(1), sloClass: "urgent"))
        }
        await engine.shutdown(gracePeriod: .seconds(1))
    }
}
