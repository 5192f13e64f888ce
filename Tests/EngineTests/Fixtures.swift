import Foundation
import Models
import Tokenizers
@testable import Engine

/// The committed fixture checkpoints and their `transformers` references.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures/models")
    static let names = ["llama-gqa", "qwen2-tied", "llama-sp"]

    static func directory(_ name: String) -> URL { root.appendingPathComponent(name) }

    struct Reference: Decodable {
        struct Prompt: Decodable {
            let text: String
            let prompt_token_ids: [Int]
            let greedy_token_ids: [Int]
            let top_logprobs: [[TokenLogprob]]
            let greedy_text: String
        }

        let prompts: [Prompt]
    }

    static func reference(_ name: String) throws -> Reference {
        let data = try Data(contentsOf: directory(name).appendingPathComponent("reference.json"))
        return try JSONDecoder().decode(Reference.self, from: data)
    }

    static func generator(_ name: String) throws -> TextGenerator {
        let dir = directory(name)
        return TextGenerator(model: try ModelLoader.load(directory: dir), tokenizer: try Tokenizer.load(directory: dir),
                             defaults: try GenerationDefaults.load(directory: dir))
    }

    /// Greedy for exactly `count` tokens, as the references were made.
    static func greedy(_ count: Int, logprobs: Int? = nil) -> SamplingParameters {
        SamplingParameters(temperature: 0, maxTokens: count, topLogprobs: logprobs, ignoreStopTokens: true)
    }
}
