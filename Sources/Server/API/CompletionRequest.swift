/// The body of `POST /v1/completions` (the legacy text completion API).
public struct CompletionRequest: CompletionBody, Sendable {
    static let integerFields = ["max_tokens", "logprobs", "n", "seed", "top_k", "prompt"]

    public var model: String
    public var prompt: PromptInput
    public var maxTokens: Int?
    /// `temperature` to `frequency_penalty`, as in `/v1/chat/completions`.
    public var sampling: SamplingFields
    /// How many top alternatives to report per token; the legacy API's integer `logprobs`.
    public var logprobs: Int?
    public var echo: Bool?
    /// vLLM extension: keep generating past end-of-sequence tokens (benchmarks).
    public var ignoreEos: Bool?
    /// vLLM extension: log-probabilities of the prompt tokens with this many alternatives each.
    public var promptLogprobs: Int?
    /// `response_format`, `logit_bias` and vLLM's `guided_*` fields.
    var structured: StructuredOutputFields

    // `suffix` is not among the members read: Tessera does no insertion.
    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, prompt, logprobs, echo
        case maxTokens = "max_tokens"
        case ignoreEos = "ignore_eos"
        case promptLogprobs = "prompt_logprobs"
    }

    // The sampling fields sit beside the others at the top level of the body.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(String.self, forKey: .model)
        prompt = try c.decode(PromptInput.self, forKey: .prompt)
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
        sampling = try SamplingFields(from: decoder)
        logprobs = try c.decodeIfPresent(Int.self, forKey: .logprobs)
        echo = try c.decodeIfPresent(Bool.self, forKey: .echo)
        ignoreEos = try c.decodeIfPresent(Bool.self, forKey: .ignoreEos)
        promptLogprobs = try c.decodeIfPresent(Int.self, forKey: .promptLogprobs)
        structured = try StructuredOutputFields(from: decoder)
    }
}

/// `prompt`: a string, a list of strings, a list of token ids, or a list of token id lists.
public enum PromptInput: Decodable, Sendable {
    case texts([String])
    case tokenLists([[Int]])

    /// How many prompts.
    public var count: Int {
        switch self {
        case let .texts(texts): texts.count
        case let .tokenLists(lists): lists.count
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .texts([text])
        } else if let texts = try? container.decode([String].self), !texts.isEmpty {
            self = .texts(texts)
        } else if let ids = try? container.decode([Int].self), !ids.isEmpty {
            self = .tokenLists([ids])
        } else if let lists = try? container.decode([[Int]].self), !lists.isEmpty {
            self = .tokenLists(lists)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "must be a string, a list of strings, a list of token ids or a list of token id lists, and not empty")
        }
    }
}
