/// Token counts of one API call, with `prompt_tokens_details.cached_tokens` from the prefix cache.
public struct Usage: Encodable, Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var cachedTokens: Int

    public init(promptTokens: Int, completionTokens: Int, cachedTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedTokens = cachedTokens
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
        case details = "prompt_tokens_details"
    }
    enum DetailKeys: String, CodingKey { case cachedTokens = "cached_tokens" }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(promptTokens, forKey: .promptTokens)
        try c.encode(completionTokens, forKey: .completionTokens)
        try c.encode(promptTokens + completionTokens, forKey: .totalTokens)
        var details = c.nestedContainer(keyedBy: DetailKeys.self, forKey: .details)
        try details.encode(cachedTokens, forKey: .cachedTokens)
    }
}
