/// The body of `POST /v1/chat/completions`, with the OpenAI field names.
public struct ChatCompletionRequest: Decodable, Sendable {
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

    enum CodingKeys: String, CodingKey {
        case model, messages, logprobs
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
    }
}

/// One chat message; `content` is a string, a list of parts, or null (an assistant turn with none).
public struct ChatMessage: Decodable, Sendable {
    public var role: String
    public var content: MessageContent?
    public var name: String?
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
                debugDescription: "unsupported content part type '\(type)' (expected 'text' or 'image_url')")
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
