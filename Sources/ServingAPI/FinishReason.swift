/// Why generation ended, as the OpenAI API names it.
public enum FinishReason: String, Sendable, Codable {
    /// A stop token or stop string.
    case stop
    /// `maxTokens` or the context length.
    case length
}
