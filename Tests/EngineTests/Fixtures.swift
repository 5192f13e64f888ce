import Models
import ServingAPI
import TestFixtures
import Tokenizers
@testable import Engine

extension Fixtures {
    static let names = ["llama-gqa", "qwen2-tied", "llama-sp"]

    /// One request's events, gathered as `tessera generate` gathers them.
    struct Generation {
        var tokenIds: [Int] = []
        var text = ""
        var pieces: [String] = []
        var finishReason: FinishReason?
        var topLogprobs: [[TokenLogprob]] = []
    }

    static func engine(_ name: String) throws -> LLMEngine {
        var config = EngineConfig()
        config.kvCacheMemoryBytes = 8 << 20
        return try LLMEngine(directory: directory(name), config: config)
    }

    /// Runs one request on `engine`.
    static func generate(_ engine: LLMEngine, prompt: [Int], parameters: SamplingParameters) async throws -> Generation {
        var out = Generation()
        for try await event in try engine.submit(InferenceRequest(prompt: .tokens(prompt), parameters: parameters)) {
            switch event {
            case let .delta(delta):
                out.tokenIds += delta.tokenIds
                out.text += delta.text
                if !delta.text.isEmpty { out.pieces.append(delta.text) }
                out.topLogprobs += delta.logprobs.map(\.top)
            case let .finished(info):
                out.finishReason = info.reason
            }
        }
        return out
    }
}
