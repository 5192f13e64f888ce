import Engine

/// `object: "chat.completion"`: the whole answer of a non-streaming chat request.
struct ChatCompletionResponse: Encodable, Sendable {
    struct Choice: Encodable, Sendable {
        var index: Int
        var content: String
        var logprobs: ChatLogprobs?
        var finishReason: FinishReason

        enum CodingKeys: String, CodingKey { case index, message, logprobs, finishReason = "finish_reason" }
        enum MessageKeys: String, CodingKey { case role, content }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            var message = c.nestedContainer(keyedBy: MessageKeys.self, forKey: .message)
            try message.encode("assistant", forKey: .role)
            try message.encode(content, forKey: .content)
            try c.encode(logprobs, forKey: .logprobs)
            try c.encode(finishReason, forKey: .finishReason)
        }
    }

    var id: String
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage

    enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode("chat.completion", forKey: .object)
        try c.encode(created, forKey: .created)
        try c.encode(model, forKey: .model)
        try c.encode(choices, forKey: .choices)
        try c.encode(usage, forKey: .usage)
    }
}

/// `object: "chat.completion.chunk"`: one SSE event of a streaming chat request.
struct ChatCompletionChunk: Encodable, Sendable {
    struct Choice: Encodable, Sendable {
        var index: Int
        /// Set on a choice's first chunk only.
        var role: String?
        var content: String?
        var logprobs: ChatLogprobs?
        var finishReason: FinishReason?

        enum CodingKeys: String, CodingKey { case index, delta, logprobs, finishReason = "finish_reason" }
        enum DeltaKeys: String, CodingKey { case role, content }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            var delta = c.nestedContainer(keyedBy: DeltaKeys.self, forKey: .delta)
            try delta.encodeIfPresent(role, forKey: .role)
            try delta.encodeIfPresent(content, forKey: .content)
            try c.encode(logprobs, forKey: .logprobs)
            try c.encode(finishReason, forKey: .finishReason)
        }
    }

    var id: String
    var created: Int
    var model: String
    var choices: [Choice]
    /// Present (as null or a value) only when the client asked for `include_usage`.
    var usage: Usage?
    var includeUsageField: Bool

    enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode("chat.completion.chunk", forKey: .object)
        try c.encode(created, forKey: .created)
        try c.encode(model, forKey: .model)
        try c.encode(choices, forKey: .choices)
        if includeUsageField { try c.encode(usage, forKey: .usage) }
    }
}
