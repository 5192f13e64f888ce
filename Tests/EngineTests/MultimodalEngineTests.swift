import Foundation
import Imaging
import ServingAPI
import TestFixtures
import Testing
@testable import Engine

/// The engine's image path on the vision-language fixtures: non-blocking encoding, the encoder
/// cache and the multimodal prefix cache must leave greedy outputs exactly as `transformers` made them.
@Suite struct MultimodalEngineTests {
    func load(_ model: String) throws -> (LLMEngine, Fixtures.Reference) {
        var config = EngineConfig()
        config.blockSize = 4
        config.kvCacheMemoryBytes = 8 << 20
        let dir = Fixtures.directory(model)
        return (try LLMEngine(directory: dir, config: config), try Fixtures.reference(model))
    }

    func request(_ prompt: Fixtures.Reference.Prompt, engine: LLMEngine) throws -> InferenceRequest {
        InferenceRequest(prompt: .text(prompt.text), images: try Fixtures.images(prompt.images), parameters: Fixtures.greedy(16))
    }

    func run(_ engine: LLMEngine, _ request: InferenceRequest) async throws -> (tokens: [Int], finish: FinishInfo?) {
        var tokens: [Int] = [], finish: FinishInfo?
        for try await event in try engine.submit(request) {
            switch event {
            case let .delta(d): tokens += d.tokenIds
            case let .finished(info): finish = info
            }
        }
        return (tokens, finish)
    }

    @Test func llavaRequestsInFlightTogetherMatchTransformers() async throws {
        let (engine, reference) = try load("llava-tiny")
        #expect(engine.servedModel.imagePlaceholder == "<image>")
        let prompts = reference.prompts
        let results = try await withThrowingTaskGroup(of: (Int, [Int], FinishInfo?).self) { group in
            for (i, prompt) in prompts.enumerated() {
                let request = try request(prompt, engine: engine)
                group.addTask { let r = try await run(engine, request); return (i, r.tokens, r.finish) }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = ($1.1, $1.2) }
        }
        #expect(results.count == prompts.count)
        for (i, prompt) in prompts.enumerated() {
            #expect(results[i]?.0 == prompt.greedy_token_ids, "prompt \(i): \(prompt.images)")
            #expect(results[i]?.1?.promptTokens == prompt.prompt_token_ids.count)
        }
        await engine.shutdown(gracePeriod: .seconds(1))
    }

    @Test func aRepeatedImageHitsBothCachesAndAnotherImageDoesNot() async throws {
        let (engine, reference) = try load("llava-tiny")
        let first = reference.prompts[0], other = reference.prompts[1]
        #expect(first.text == other.text && first.images != other.images)
        let a = try await run(engine, try request(first, engine: engine))
        let again = try await run(engine, try request(first, engine: engine))
        let b = try await run(engine, try request(other, engine: engine))
        #expect(a.tokens == first.greedy_token_ids && again.tokens == first.greedy_token_ids && b.tokens == other.greedy_token_ids)
        #expect(again.finish?.timings.images.first?.encoderCacheHit == true)
        #expect(a.finish?.timings.images.first?.encoderCacheHit == false)
        let imageStart = try #require(first.prompt_token_ids.firstIndex(of: engine.imageTokenIdForTesting))
        // The repeat reuses KV through the image; the other image shares only the text before it.
        #expect((again.finish?.cachedTokens ?? 0) > imageStart)
        #expect((b.finish?.cachedTokens ?? .max) <= imageStart)
        let stats = engine.statistics()
        #expect(stats.encoderCacheHits == 1 && stats.encoderCacheQueries == 3)
        await engine.shutdown(gracePeriod: .seconds(1))
    }

    /// A repeat is found in the encoder cache before any preprocessing: its prompt is laid out
    /// from the cached features (and, for Qwen2-VL, the image's size alone), with the same tokens.
    @Test(arguments: ["llava-tiny", "qwen2-vl-tiny"])
    func aRepeatedImageSkipsPreprocessingAndEncoding(_ model: String) async throws {
        let (engine, reference) = try load(model)
        let prompt = try #require(reference.prompts.max { $0.images.count < $1.images.count })
        let first = try await run(engine, try request(prompt, engine: engine))
        let again = try await run(engine, try request(prompt, engine: engine))
        #expect(first.tokens == prompt.greedy_token_ids && again.tokens == prompt.greedy_token_ids)
        let firstImages = first.finish?.timings.images ?? [], repeatImages = again.finish?.timings.images ?? []
        #expect(firstImages.count == prompt.images.count && repeatImages.count == prompt.images.count)
        #expect(firstImages.allSatisfy { $0.preprocess > 0 })
        #expect(repeatImages.allSatisfy { $0.encoderCacheHit && $0.preprocess == 0 && $0.encode == 0 })
        #expect(engine.statistics().encoderCacheHits >= prompt.images.count)
        await engine.shutdown(gracePeriod: .seconds(1))
    }

    @Test func imagesAreRefusedWhenTheyDoNotFit() async throws {
        let (engine, reference) = try load("llava-tiny")
        let prompt = reference.prompts[0]
        let image = try Fixtures.images([prompt.images[0]])[0]
        #expect(throws: EngineError.self) {
            try engine.submit(InferenceRequest(prompt: .text(prompt.text), images: [image, image], parameters: Fixtures.greedy(1)))
        }
        let text = try LLMEngine(directory: Fixtures.directory("llama-gqa"))
        #expect(throws: EngineError.invalidRequest("model 'llama-gqa' does not accept images")) {
            try text.submit(InferenceRequest(prompt: .text("hi"), images: [image], parameters: Fixtures.greedy(1)))
        }
        await engine.shutdown(gracePeriod: .seconds(1))
        await text.shutdown(gracePeriod: .seconds(1))
    }
}
