/// The body of `POST /v1/chat/completions`, with the OpenAI field names.
public struct ChatCompletionRequest: CompletionBody, Sendable {
    static let integerFields = ["max_tokens", "max_completion_tokens", "top_logprobs", "n", "seed", "top_k"]

    public var model: String
    public var messages: [ChatMessage]
    public var maxTokens: Int?
    public var maxCompletionTokens: Int?
    /// `temperature` to `frequency_penalty`, as in `/v1/completions`.
    public var sampling: SamplingFields
    public var logprobs: Bool?
    public var topLogprobs: Int?
    /// vLLM extension: keep generating past end-of-sequence tokens (benchmarks).
    public var ignoreEos: Bool?
    /// `response_format`, `logit_bias` and vLLM's `guided_*` fields.
    var structured: StructuredOutputFields
    var tools: [ToolDefinition]?
    var toolChoice: ToolChoice?
    var parallelToolCalls: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, messages, logprobs, tools
        case toolChoice = "tool_choice"
        case parallelToolCalls = "parallel_tool_calls"
        case maxTokens = "max_tokens"
        case maxCompletionTokens = "max_completion_tokens"
        case topLogprobs = "top_logprobs"
        case ignoreEos = "ignore_eos"
    }

    // The sampling fields sit beside the others at the top level of the body.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(String.self, forKey: .model)
        messages = try c.decode([ChatMessage].self, forKey: .messages)
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
        maxCompletionTokens = try c.decodeIfPresent(Int.self, forKey: .maxCompletionTokens)
        sampling = try SamplingFields(from: decoder)
        logprobs = try c.decodeIfPresent(Bool.self, forKey: .logprobs)
        topLogprobs = try c.decodeIfPresent(Int.self, forKey: .topLogprobs)
        ignoreEos = try c.decodeIfPresent(Bool.self, forKey: .ignoreEos)
        structured = try StructuredOutputFields(from: decoder)
        tools = try c.decodeIfPresent([ToolDefinition].self, forKey: .tools)
        toolChoice = try c.decodeIfPresent(ToolChoice.self, forKey: .toolChoice)
        parallelToolCalls = try c.decodeIfPresent(Bool.self, forKey: .parallelToolCalls)
    }
}

/// One chat message; `content` is a string, a list of parts, or null (an assistant turn with none).
public struct ChatMessage: Decodable, Sendable {
    public var role: String
    public var content: MessageContent?
    public var name: String?
    /// An assistant turn's calls (its content is then usually null).
    var toolCalls: [ToolCallMessage]?
    /// A `tool` message's answer to this call.
    var toolCallId: String?

    enum CodingKeys: String, CodingKey {
        case role, content, name
        case toolCalls = "tool_calls"
        case toolCallId = "tool_call_id"
    }
}

public enum MessageContent: Decodable, Sendable {
    case text(String)
    case parts([ContentPart])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .text(text)
        } else {
            self = .parts(try container.decode([ContentPart].self))
        }
    }
}

/// A `text` or `image_url` content part.
public enum ContentPart: Decodable, Sendable {
    case text(String)
    case imageURL(String)

    enum CodingKeys: String, CodingKey { case type, text, imageURL = "image_url" }
    struct ImageURL: Decodable { var url: String }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "text":
            self = .text(try container.decode(String.self, forKey: .text))
        case "image_url":
            self = .imageURL(try container.decode(ImageURL.self, forKey: .imageURL).url)
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container,
                debugDescription: "unsupported content part type '\(APIError.excerpt(type))' (expected 'text' or 'image_url')")
        }
    }
}

public struct StreamOptions: Decodable, Sendable {
    public var includeUsage: Bool?
    enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
}

/// `stop`: one string or a list of them.
public struct StopSequences: Decodable, Sendable {
    public var values: [String]

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let one = try? container.decode(String.self) {
            values = [one]
        } else {
            values = try container.decode([String].self)
        }
    }
}
