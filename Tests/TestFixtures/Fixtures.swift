import Engine
import Foundation
import Imaging
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
            /// A vision-language prompt's images (file names in ``images``); empty for text.
            public let images: [String]
            public let prompt_token_ids: [Int]
            public let greedy_token_ids: [Int]
            public let top_logprobs: [[TokenLogprob]]

            enum CodingKeys: String, CodingKey {
                case text, images, prompt_token_ids, greedy_token_ids, top_logprobs
            }

            public init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                text = try c.decode(String.self, forKey: .text)
                images = try c.decodeIfPresent([String].self, forKey: .images) ?? []
                prompt_token_ids = try c.decode([Int].self, forKey: .prompt_token_ids)
                greedy_token_ids = try c.decode([Int].self, forKey: .greedy_token_ids)
                top_logprobs = try c.decode([[TokenLogprob]].self, forKey: .top_logprobs)
            }
        }

        public let prompts: [Prompt]
    }

    public static func reference(_ name: String) throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: directory(name).appendingPathComponent("reference.json")))
    }

    /// The committed test images (fixtures/images/good).
    public static let images = root.deletingLastPathComponent().appendingPathComponent("images/good")

    /// Test images decoded, by file name.
    public static func images(_ names: [String]) throws -> [RGBImage] {
        try names.map { try ImageDecoder.decode(contentsOf: images.appendingPathComponent($0)) }
    }

    /// Greedy for exactly `count` tokens, as the references were made.
    public static func greedy(_ count: Int, logprobs: Int? = nil) -> SamplingParameters {
        SamplingParameters(temperature: 0, maxTokens: count, topLogprobs: logprobs, ignoreStopTokens: true)
    }
}
