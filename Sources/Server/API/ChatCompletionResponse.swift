import ServingAPI

/// `object: "chat.completion"`: the whole answer of a non-streaming chat request.
typealias ChatCompletionResponse = CompletionEnvelope<ChatCompletionChoice>

/// `object: "chat.completion.chunk"`: one SSE event of a streaming chat request.
typealias ChatCompletionChunk = CompletionEnvelope<ChatCompletionChunkChoice>

/// A choice of a whole chat answer: the assistant's `message`.
struct ChatCompletionChoice: CompletionEnvelopeChoice {
    static let object = "chat.completion"

    var index: Int
    /// Null when the answer is only tool calls.
    var content: String?
    var logprobs: ChatLogprobs?
    var finishReason: FinishReason
    var toolCalls: [ToolCall] = []

    enum CodingKeys: String, CodingKey { case index, message, logprobs, finishReason = "finish_reason" }
    enum MessageKeys: String, CodingKey { case role, content, refusal, toolCalls = "tool_calls" }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        var message = c.nestedContainer(keyedBy: MessageKeys.self, forKey: .message)
        try message.encode("assistant", forKey: .role)
        try message.encode(content, forKey: .content)
        try message.encodeNil(forKey: .refusal)
        if !toolCalls.isEmpty { try message.encode(toolCalls, forKey: .toolCalls) }
        try c.encode(logprobs, forKey: .logprobs)
        try c.encode(finishReason.chatName(toolCalls: !toolCalls.isEmpty), forKey: .finishReason)
    }
}

/// A choice of one stream chunk: the `delta` since the previous chunk.
struct ChatCompletionChunkChoice: CompletionEnvelopeChoice {
    static let object = "chat.completion.chunk"

    var index: Int
    /// Set on a choice's first chunk only.
    var role: String?
    var content: String?
    var logprobs: ChatLogprobs?
    var finishReason: FinishReason?
    /// Pieces of tool calls.
    var toolCalls: [ToolCallDelta]?
    /// Whether the choice made tool calls: its finish reason is then `tool_calls`.
    var calledTools = false

    enum CodingKeys: String, CodingKey { case index, delta, logprobs, finishReason = "finish_reason" }
    enum DeltaKeys: String, CodingKey { case role, content, toolCalls = "tool_calls" }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        var delta = c.nestedContainer(keyedBy: DeltaKeys.self, forKey: .delta)
        try delta.encodeIfPresent(role, forKey: .role)
        try delta.encodeIfPresent(content, forKey: .content)
        if let toolCalls, !toolCalls.isEmpty { try delta.encode(toolCalls, forKey: .toolCalls) }
        try c.encode(logprobs, forKey: .logprobs)
        try c.encode(finishReason?.chatName(toolCalls: calledTools), forKey: .finishReason)
    }
}

extension FinishReason {
    /// The chat API's name: a stop that produced tool calls is `tool_calls`.
    func chatName(toolCalls: Bool) -> String { toolCalls && self == .stop ? "tool_calls" : rawValue }
}
