/// The body of `POST /v1/completions` (the legacy text completion API).
public struct CompletionRequest: Decodable, Sendable {
    public var model: String
    public var prompt: PromptInput
    public var maxTokens: Int?
    public var temperature: Double?
    public var topP: Double?
    /// vLLM extension.
    public var topK: Int?
    /// vLLM extension.
    public var minP: Double?
    public var n: Int?
    public var stream: Bool?
    public var streamOptions: StreamOptions?
    public var stop: StopSequences?
    public var seed: Int?
    public var presencePenalty: Double?
    public var frequencyPenalty: Double?
    /// How many top alternatives to report per token; the legacy API's integer `logprobs`.
    public var logprobs: Int?
    public var echo: Bool?
    /// vLLM extension: keep generating past end-of-sequence tokens (benchmarks).
    public var ignoreEos: Bool?

    enum CodingKeys: String, CodingKey {
        case model, prompt, temperature, n, stream, stop, seed, logprobs, echo
        case maxTokens = "max_tokens"
        case topP = "top_p"
        case topK = "top_k"
        case minP = "min_p"
        case streamOptions = "stream_options"
        case presencePenalty = "presence_penalty"
        case frequencyPenalty = "frequency_penalty"
        case ignoreEos = "ignore_eos"
    }
}

/// `prompt`: a string, a list of strings, a list of token ids, or a list of token id lists.
public enum PromptInput: Decodable, Sendable {
    case texts([String])
    case tokenLists([[Int]])

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
