import Foundation
import ServingAPI
import TestFixtures
import Testing
@testable import Engine

@Suite struct TextGeneratorTests {
    @Test(arguments: Fixtures.names)
    func greedyTokensAndLogprobsMatchTransformers(_ name: String) throws {
        let generator = try Fixtures.generator(name)
        let prompts = try Fixtures.reference(name).prompts
        #expect(prompts.count == 2)
        for prompt in prompts {
            #expect(generator.tokenizer.encode(prompt.text) == prompt.prompt_token_ids)
            let out = try generator.generate(prompt: prompt.prompt_token_ids, parameters: Fixtures.greedy(16, logprobs: 5))
            #expect(out.tokenIds == prompt.greedy_token_ids)
            #expect(out.finishReason == .length)
            #expect(out.topLogprobs.count == 16)
            for (mine, theirs) in zip(out.topLogprobs, prompt.top_logprobs) {
                #expect(mine.map(\.id) == theirs.map(\.id))
                for (a, b) in zip(mine, theirs) { #expect(abs(a.logprob - b.logprob) < 1e-4) }
            }
            #expect(out.text == generator.tokenizer.decode(prompt.greedy_token_ids, skipSpecialTokens: true))
        }
    }

    @Test func streamedPiecesAddUpToTheText() throws {
        let generator = try Fixtures.generator("llama-sp")
        let prompt = try Fixtures.reference("llama-sp").prompts[1]
        var pieces: [String] = []
        let out = try generator.generate(prompt: prompt.prompt_token_ids, parameters: Fixtures.greedy(16)) { pieces.append($0) }
        #expect(pieces.joined() == out.text && !out.text.isEmpty)
    }

    @Test func sameSeedSameOutputAndSeedsDiffer() throws {
        let generator = try Fixtures.generator("qwen2-tied")
        let prompt = try Fixtures.reference("qwen2-tied").prompts[0].prompt_token_ids
        func run(_ seed: UInt64) throws -> [Int] {
            try generator.generate(prompt: prompt, parameters: SamplingParameters(temperature: 1.5, seed: seed, maxTokens: 24,
                                                                                    ignoreStopTokens: true)).tokenIds
        }
        #expect(try run(1) == run(1))
        #expect(try run(1) != run(2))
    }

    @Test func stopStringCutsTheTextAndEndsWithStop() throws {
        let generator = try Fixtures.generator("llama-gqa")
        let prompt = try Fixtures.reference("llama-gqa").prompts[0]
        let full = try generator.generate(prompt: prompt.prompt_token_ids, parameters: Fixtures.greedy(16)).text
        // Stop at a piece of the greedy continuation: the text ends right before it.
        let middle = full.index(full.startIndex, offsetBy: full.count / 2)
        let stop = String(full[middle...].prefix(3))
        var parameters = Fixtures.greedy(16)
        parameters.stopStrings = [stop]
        let out = try generator.generate(prompt: prompt.prompt_token_ids, parameters: parameters)
        #expect(out.finishReason == .stop)
        #expect(out.text == String(full[..<full.range(of: stop)!.lowerBound]))
        #expect(out.tokenIds.count < 16)
    }

    @Test func stopTokenEndsGenerationWithoutItsText() throws {
        let generator = try Fixtures.generator("llama-gqa")
        let prompt = try Fixtures.reference("llama-gqa").prompts[0]
        // Declare the fourth greedy token a stop token; generation ends at its first appearance.
        let stop = prompt.greedy_token_ids[3]
        let end = try #require(prompt.greedy_token_ids.firstIndex(of: stop))
        var parameters = Fixtures.greedy(16)
        parameters.ignoreStopTokens = false
        parameters.stopTokenIds = [stop]
        let out = try generator.generate(prompt: prompt.prompt_token_ids, parameters: parameters)
        #expect(out.finishReason == .stop)
        #expect(out.tokenIds == Array(prompt.greedy_token_ids.prefix(end + 1)))
        #expect(out.text == generator.tokenizer.decode(Array(prompt.greedy_token_ids.prefix(end)), skipSpecialTokens: true))
    }

    @Test func eosIdsComeFromTheGenerationConfig() throws {
        let generator = try Fixtures.generator("llama-gqa")
        let tokenizer = generator.tokenizer
        let expected = Set(["<|end_of_text|>", "<|eot_id|>"].compactMap { tokenizer.id(forToken: $0) })
        #expect(expected.count == 2 && generator.stopTokenIds == expected)
    }

    @Test func emptyAndTooLongPromptsAreRefused() throws {
        let generator = try Fixtures.generator("llama-gqa")
        #expect(throws: GenerationError.emptyPrompt) { try generator.generate(prompt: [], parameters: Fixtures.greedy(1)) }
        let limit = generator.model.config.maxPositionEmbeddings
        #expect(throws: GenerationError.promptTooLong(tokens: limit, limit: limit)) {
            try generator.generate(prompt: Array(repeating: 5, count: limit), parameters: Fixtures.greedy(1))
        }
    }
}
