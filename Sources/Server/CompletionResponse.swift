import Engine

/// `object: "text_completion"`: a whole answer of `/v1/completions`, or one SSE chunk of it.
struct CompletionResponse: Encodable, Sendable {
    struct Choice: Encodable, Sendable {
        var index: Int
        var text: String
        var logprobs: CompletionLogprobs?
        var finishReason: FinishReason?

        enum CodingKeys: String, CodingKey { case index, text, logprobs, finishReason = "finish_reason" }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(text, forKey: .text)
            try c.encode(logprobs, forKey: .logprobs)
            try c.encode(finishReason, forKey: .finishReason)
        }
    }

    var id: String
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage?
    /// Whether `usage` is written (as null when nil): always for whole answers, with `include_usage` for chunks.
    var includeUsageField: Bool

    enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode("text_completion", forKey: .object)
        try c.encode(created, forKey: .created)
        try c.encode(model, forKey: .model)
        try c.encode(choices, forKey: .choices)
        if includeUsageField { try c.encode(usage, forKey: .usage) }
    }
}
