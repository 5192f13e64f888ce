/// Why a forward pass was refused; nothing is written to the cache when one is thrown.
public enum ForwardError: Error, Equatable, CustomStringConvertible {
    case emptyInput
    /// More tokens than an encoder's positions (CLIP's 77).
    case sequenceTooLong(count: Int, limit: Int)
    case tokenOutOfRange(token: Int, vocabSize: Int)
    /// The cache cannot hold `required` positions.
    case cacheFull(required: Int, capacity: Int)
    /// The cache was made for a model with a different layout.
    case incompatibleCache(detail: String)
    /// Image features or M-RoPE positions that do not fit the model or the tokens.
    case invalidMultimodalInput(detail: String)
    /// A pipeline stage's units or input that do not fit the model or each other.
    case invalidStage(detail: String)

    public var description: String {
        switch self {
        case .emptyInput: "forward needs at least one token"
        case let .sequenceTooLong(count, limit): "\(count) tokens exceed the encoder's \(limit) positions"
        case let .tokenOutOfRange(token, vocabSize): "token id \(token) is outside the vocabulary 0..<\(vocabSize)"
        case let .cacheFull(required, capacity): "sequence needs \(required) positions but the KV cache holds \(capacity)"
        case let .incompatibleCache(detail): "KV cache does not fit this model: \(detail)"
        case let .invalidMultimodalInput(detail): "invalid multimodal input: \(detail)"
        case let .invalidStage(detail): "invalid pipeline stage: \(detail)"
        }
    }
}
