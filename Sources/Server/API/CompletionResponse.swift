import ServingAPI

/// `object: "text_completion"`: a whole answer of `/v1/completions`, or one SSE chunk of it.
typealias CompletionResponse = CompletionEnvelope<TextCompletionChoice>

/// A choice of `/v1/completions`: its whole text, or the text since the previous chunk.
struct TextCompletionChoice: CompletionEnvelopeChoice {
    static let object = "text_completion"

    var index: Int
    var text: String
    var logprobs: CompletionLogprobs?
    var finishReason: FinishReason?
    /// vLLM's `prompt_logprobs`, when asked for.
    var promptLogprobs: [[String: PromptLogprob]?]? = nil

    enum CodingKeys: String, CodingKey { case index, text, logprobs, finishReason = "finish_reason", promptLogprobs = "prompt_logprobs" }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode(text, forKey: .text)
        try c.encode(logprobs, forKey: .logprobs)
        try c.encode(finishReason, forKey: .finishReason)
        if let promptLogprobs { try c.encode(promptLogprobs, forKey: .promptLogprobs) }
    }
}
