/// Why an image could not be encoded or placed in a prompt. Nothing is run or cached when one is thrown.
public enum MultimodalError: Error, Equatable, CustomStringConvertible {
    /// The preprocessed image does not have the layout this vision tower needs.
    case invalidPixelValues(expected: String, shape: [Int])
    /// The prompt has a different number of image placeholders than images were given.
    case placeholderMismatch(placeholders: Int, images: Int)
    /// Image features that do not fit the prompt or the language model.
    case invalidImageFeatures(String)

    public var description: String {
        switch self {
        case let .invalidPixelValues(expected, shape): "pixel values of shape \(shape) do not fit the vision tower, which needs \(expected)"
        case let .placeholderMismatch(placeholders, images): "the prompt has \(placeholders) image placeholders but \(images) images were given"
        case let .invalidImageFeatures(detail): "invalid image features: \(detail)"
        }
    }
}
