/// Why a generation request could not run.
public enum GenerationError: Error, CustomStringConvertible, Equatable {
    case emptyPrompt
    case promptTooLong(tokens: Int, limit: Int)
    case invalidConfig(String)

    public var description: String {
        switch self {
        case .emptyPrompt:
            "the prompt is empty: give at least one token"
        case let .promptTooLong(tokens, limit):
            "the prompt has \(tokens) tokens but the model's context length is \(limit); shorten the prompt"
        case let .invalidConfig(message):
            "invalid generation config: \(message)"
        }
    }
}
