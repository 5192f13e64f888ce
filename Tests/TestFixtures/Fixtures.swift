import Engine
import Foundation
import ServingAPI

/// The committed fixture checkpoints and their `transformers` references.
///
/// ```swift
/// let prompt = try Fixtures.reference("llama-gqa").prompts[0]
/// let parameters = Fixtures.greedy(prompt.greedy_token_ids.count, logprobs: 1)
/// ```
public enum Fixtures {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures/models")

    public static func directory(_ name: String) -> URL { root.appendingPathComponent(name) }

    /// A checkpoint's `reference.json`: its prompts with greedy continuations and top logprobs.
    public struct Reference: Decodable, Sendable {
        public struct Prompt: Decodable, Sendable {
            public let text: String
            public let prompt_token_ids: [Int]
            public let greedy_token_ids: [Int]
            public let top_logprobs: [[TokenLogprob]]
        }

        public let prompts: [Prompt]
    }

    public static func reference(_ name: String) throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: directory(name).appendingPathComponent("reference.json")))
    }

    /// Greedy for exactly `count` tokens, as the references were made.
    public static func greedy(_ count: Int, logprobs: Int? = nil) -> SamplingParameters {
        SamplingParameters(temperature: 0, maxTokens: count, topLogprobs: logprobs, ignoreStopTokens: true)
    }
}
