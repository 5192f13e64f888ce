import Foundation
import ServingAPI
import TestFixtures
import Testing
@testable import Engine

/// One request through `LLMEngine`, the path `tessera generate`, `bench engine` and the server share.
@Suite struct GenerationTests {
    @Test(arguments: Fixtures.names)
    func greedyTokensAndLogprobsMatchTransformers(_ name: String) async throws {
        let engine = try Fixtures.engine(name)
        let prompts = try Fixtures.reference(name).prompts
        #expect(prompts.count == 2)
        for prompt in prompts {
            #expect(engine.servedModel.tokenizer.encode(prompt.text) == prompt.prompt_token_ids)
            let out = try await Fixtures.generate(engine, prompt: prompt.prompt_token_ids, parameters: Fixtures.greedy(16, logprobs: 5))
            #expect(out.tokenIds == prompt.greedy_token_ids)
            #expect(out.finishReason == .length)
            #expect(out.topLogprobs.count == 16)
            for (mine, theirs) in zip(out.topLogprobs, prompt.top_logprobs) {
                #expect(mine.map(\.id) == theirs.map(\.id))
                for (a, b) in zip(mine, theirs) { #expect(abs(a.logprob - b.logprob) < 1e-4) }
            }
            #expect(out.text == engine.servedModel.tokenizer.decode(prompt.greedy_token_ids, skipSpecialTokens: true))
        }
        await engine.shutdown(gracePeriod: .seconds(1))
    }

    @Test func streamedPiecesAddUpToTheText() async throws {
        let engine = try Fixtures.engine("llama-sp")
        let prompt = try Fixtures.reference("llama-sp").prompts[1]
        let out = try await Fixtures.generate(engine, prompt: prompt.prompt_token_ids, parameters: Fixtures.greedy(16))
        #expect(out.pieces.count > 1 && out.pieces.joined() == out.text && !out.text.isEmpty)
        await engine.shutdown(gracePeriod: .seconds(1))
    }

    @Test func sameSeedSameOutputAndSeedsDiffer() async throws {
        let engine = try Fixtures.engine("qwen2-tied")
        let prompt = try Fixtures.reference("qwen2-tied").prompts[0].prompt_token_ids
        func run(_ seed: UInt64) async throws -> [Int] {
            try await Fixtures.generate(engine, prompt: prompt, parameters: SamplingParameters(
                temperature: 1.5, seed: seed, maxTokens: 24, ignoreStopTokens: true)).tokenIds
        }
        #expect(try await run(1) == run(1))
        #expect(try await run(1) != run(2))
        await engine.shutdown(gracePeriod: .seconds(1))
    }

    @Test func stopStringCutsTheTextAndEndsWithStop() async throws {
        let engine = try Fixtures.engine("llama-gqa")
        let prompt = try Fixtures.reference("llama-gqa").prompts[0]
        let full = try await Fixtures.generate(engine, prompt: prompt.prompt_token_ids, parameters: Fixtures.greedy(16)).text
        // Stop at a piece of the greedy continuation: the text ends right before it.
        let middle = full.index(full.startIndex, offsetBy: full.count / 2)
        let stop = String(full[middle...].prefix(3))
        var parameters = Fixtures.greedy(16)
        parameters.stopStrings = [stop]
        let out = try await Fixtures.generate(engine, prompt: prompt.prompt_token_ids, parameters: parameters)
        #expect(out.finishReason == .stop)
        #expect(out.text == String(full[..<full.range(of: stop)!.lowerBound]))
        #expect(out.tokenIds.count < 16)
        await engine.shutdown(gracePeriod: .seconds(1))
    }

    @Test func stopTokenEndsGenerationWithoutItsText() async throws {
        let engine = try Fixtures.engine("llama-gqa")
        let prompt = try Fixtures.reference("llama-gqa").prompts[0]
        // Declare the fourth greedy token a stop token; generation ends at its first appearance.
        let stop = prompt.greedy_token_ids[3]
        let end = try #require(prompt.greedy_token_ids.firstIndex(of: stop))
        var parameters = Fixtures.greedy(16)
        parameters.stopTokenIds = [stop]
        let out = try await Fixtures.generate(engine, prompt: prompt.prompt_token_ids, parameters: parameters)
        #expect(out.finishReason == .stop)
        #expect(out.tokenIds == Array(prompt.greedy_token_ids.prefix(end + 1)))
        #expect(out.text == engine.servedModel.tokenizer.decode(Array(prompt.greedy_token_ids.prefix(end)), skipSpecialTokens: true))
        await engine.shutdown(gracePeriod: .seconds(1))
    }

    @Test func eosIdsComeFromTheGenerationConfig() async throws {
        let engine = try Fixtures.engine("llama-gqa")
        let tokenizer = engine.servedModel.tokenizer
        let expected = Set(["<|end_of_text|>", "<|eot_id|>"].compactMap { tokenizer.id(forToken: $0) })
        #expect(expected.count == 2 && engine.stopTokenIds == expected)
        await engine.shutdown(gracePeriod: .seconds(1))
    }
}
