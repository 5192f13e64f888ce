import Grammar

/// How the next token is chosen, with the same meaning as the OpenAI / vLLM request fields.
///
/// A `temperature` below ``greedyTemperature`` (0 included) means greedy decoding; the other filters
/// then do not apply.
///
/// ```swift
/// var p = SamplingParameters(temperature: 0.7, topP: 0.9, seed: 1)
/// p.maxTokens = 64
/// p.stopStrings = ["\n\n"]
/// ```
public struct SamplingParameters: Sendable, Hashable, Codable {
    public var temperature: Float
    /// Keep only the `topK` most likely tokens; 0 disables the filter.
    public var topK: Int
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `topP`.
    public var topP: Float
    /// Drop tokens whose probability is below `minP` times the most likely token's.
    public var minP: Float
    /// Subtracted once from the logit of every token that already appeared in the output.
    public var presencePenalty: Float
    /// Subtracted from a token's logit once per earlier appearance in the output.
    public var frequencyPenalty: Float
    /// Same seed, same prompt, same parameters: same output. `nil` draws a fresh seed.
    public var seed: UInt64?
    public var maxTokens: Int
    /// Token ids that end generation; the matched id is not part of the returned text.
    public var stopTokenIds: Set<Int>
    /// Strings that end generation; the text is cut before the first match.
    public var stopStrings: [String]
    /// How many most likely tokens to report with their log-probabilities at each step; `nil` reports none.
    public var topLogprobs: Int?
    /// Keep going past stop token ids (benchmarks).
    public var ignoreStopTokens: Bool
    /// Added to the logits of these token ids before anything else (OpenAI's `logit_bias`).
    public var logitBias: [Int: Float]
    /// The output must be a sentence of this grammar: each step samples only tokens that keep it
    /// one, and generation stops when the sentence cannot go on.
    public var grammar: GrammarSpec?
    /// Log-probabilities of the prompt's tokens (all but the first), each with this many most likely
    /// alternatives (vLLM's `prompt_logprobs`); nil computes none. Such a request computes its whole
    /// prompt, without the prefix cache, and may ask for no generated tokens (`maxTokens` 0).
    public var promptLogprobs: Int?

    public init(
        temperature: Float = 1, topK: Int = 0, topP: Float = 1, minP: Float = 0,
        presencePenalty: Float = 0, frequencyPenalty: Float = 0, seed: UInt64? = nil,
        maxTokens: Int = 16, stopTokenIds: Set<Int> = [], stopStrings: [String] = [],
        topLogprobs: Int? = nil, ignoreStopTokens: Bool = false, logitBias: [Int: Float] = [:], grammar: GrammarSpec? = nil,
        promptLogprobs: Int? = nil
    ) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.seed = seed
        self.maxTokens = maxTokens
        self.stopTokenIds = stopTokenIds
        self.stopStrings = stopStrings
        self.topLogprobs = topLogprobs
        self.ignoreStopTokens = ignoreStopTokens
        self.logitBias = logitBias
        self.grammar = grammar
        self.promptLogprobs = promptLogprobs
    }

    /// Temperatures below this sample greedily, as vLLM's `_SAMPLING_EPS`: dividing logits by a
    /// float32 denormal gives infinities, and their differences NaN weights.
    public static let greedyTemperature: Float = 1e-5

    /// Greedy decoding: always the most likely token.
    public var isGreedy: Bool { temperature < Self.greedyTemperature || topK == 1 }

    /// Checks value ranges, with the message an API client should see.
    public func validate() throws(SamplingParameterError) {
        func fail(_ message: String) -> SamplingParameterError { SamplingParameterError(message: message) }
        guard temperature.isFinite, temperature >= 0 else { throw fail("temperature must be a finite number >= 0, got \(temperature)") }
        guard topP > 0, topP <= 1 else { throw fail("top_p must be in (0, 1], got \(topP)") }
        guard topK >= 0 else { throw fail("top_k must be -1 or 0 (no limit) or at least 1, got \(topK)") }
        guard minP >= 0, minP <= 1 else { throw fail("min_p must be in [0, 1], got \(minP)") }
        guard presencePenalty.isFinite, abs(presencePenalty) <= 2 else { throw fail("presence_penalty must be in [-2, 2], got \(presencePenalty)") }
        guard frequencyPenalty.isFinite, abs(frequencyPenalty) <= 2 else { throw fail("frequency_penalty must be in [-2, 2], got \(frequencyPenalty)") }
        guard maxTokens >= (promptLogprobs == nil ? 1 : 0) else { throw fail("max_tokens must be at least 1, got \(maxTokens)") }
        if let n = promptLogprobs, n < 0 || n > 20 { throw fail("prompt_logprobs must be in [0, 20], got \(n)") }
        if let n = topLogprobs, n < 0 || n > 20 { throw fail("top_logprobs must be in [0, 20], got \(n)") }
        if stopStrings.contains(where: \.isEmpty) { throw fail("stop strings must not be empty") }
        if let (id, bias) = logitBias.first(where: { !$0.value.isFinite || abs($0.value) > 100 || $0.key < 0 }) {
            throw fail("logit_bias values must be in [-100, 100] for token ids >= 0, got \(bias) for \(id)")
        }
    }
}

/// A sampling parameter outside its valid range.
public struct SamplingParameterError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
}
