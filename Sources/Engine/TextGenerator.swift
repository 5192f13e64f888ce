import Foundation
import Models
import ServingAPI
import Tokenizers

/// The result of one generation.
public struct GenerationOutput: Sendable {
    public var promptTokenIds: [Int]
    /// Generated ids, including a final stop token id when one ended generation.
    public var tokenIds: [Int]
    /// Generated text, without the stop token's text and cut before a stop string.
    public var text: String
    public var finishReason: FinishReason
    /// The log-probability of each generated token under the raw model distribution.
    public var logprobs: [Float]
    /// The `topLogprobs` most likely tokens at each step; empty when not requested.
    public var topLogprobs: [[TokenLogprob]]
}

/// Prefill, then incremental decode with a KV cache, for one request at a time.
///
/// ```swift
/// let generator = TextGenerator(model: model, tokenizer: tokenizer, defaults: defaults)
/// let out = try generator.generate(prompt: tokenizer.encode("Hello"), parameters: params) { print($0, terminator: "") }
/// ```
public struct TextGenerator: Sendable {
    public let model: any CausalLanguageModel
    public let tokenizer: Tokenizer
    public let defaults: GenerationDefaults

    public init(model: any CausalLanguageModel, tokenizer: Tokenizer, defaults: GenerationDefaults) {
        self.model = model
        self.tokenizer = tokenizer
        self.defaults = defaults
    }

    /// Every id that ends generation: the generation config's EOS ids, or the tokenizer's EOS.
    public var stopTokenIds: Set<Int> {
        var ids = defaults.eosTokenIds.union(model.config.eosTokenIds)
        if ids.isEmpty, let eos = tokenizer.eosTokenId { ids.insert(eos) }
        return ids
    }

    /// Generates from `prompt` and calls `onText` with each newly completed piece of text.
    public func generate(
        prompt: [Int], parameters: SamplingParameters, onText: (String) -> Void = { _ in }
    ) throws -> GenerationOutput {
        try parameters.validate()
        guard !prompt.isEmpty else { throw GenerationError.emptyPrompt }
        let contextLength = model.config.maxPositionEmbeddings
        guard prompt.count < contextLength else {
            throw GenerationError.promptTooLong(tokens: prompt.count, limit: contextLength)
        }
        let maxTokens = min(parameters.maxTokens, contextLength - prompt.count)
        let stopIds = parameters.ignoreStopTokens ? [] : parameters.stopTokenIds.union(stopTokenIds)

        let cache = model.makeCache(capacity: prompt.count + maxTokens)
        var sampler = Sampler(parameters)
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true)
        var stops = StopStringMatcher(parameters.stopStrings)
        var out = GenerationOutput(promptTokenIds: prompt, tokenIds: [], text: "", finishReason: .length, logprobs: [], topLogprobs: [])
        func emit(_ piece: String) {
            guard !piece.isEmpty else { return }
            out.text += piece
            onText(piece)
        }

        var logits = try model.forward(prompt, cache: cache, allLogits: false)[0]
        while out.tokenIds.count < maxTokens {
            let token = sampler.sample(logits)
            out.tokenIds.append(token)
            if let n = parameters.topLogprobs {
                let lp = Sampler.logprobs(logits, chosen: token, top: n)
                out.logprobs.append(lp.chosen)
                out.topLogprobs.append(lp.top)
            }
            if stopIds.contains(token) {
                out.finishReason = .stop
                break
            }
            emit(stops.append(detokenizer.append(token)))
            if stops.isStopped {
                out.finishReason = .stop
                break
            }
            if out.tokenIds.count < maxTokens {
                logits = try model.forward([token], cache: cache, allLogits: false)[0]
            }
        }
        emit(stops.append(detokenizer.finish()))
        emit(stops.finish())
        return out
    }
}
