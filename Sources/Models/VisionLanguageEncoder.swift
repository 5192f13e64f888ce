import Imaging
import Tensor

/// The vision side of a vision-language model on its own: the tower and projector (LLaVA) or the
/// vision transformer and merger (Qwen2-VL), loaded without the language model's weights — what an
/// encode instance (EPD's E stage) runs.
///
/// ```swift
/// let encoder = try ModelLoader.loadVisionLanguageEncoder(directory: url)
/// let features = try encoder.encodeImage(try ImageProcessorLoader.load(directory: url).preprocess(image))
/// ```
public final class VisionLanguageEncoder: Sendable {
    public let format: ImagePromptFormat
    let encoder: any ImageEncoder

    init(format: ImagePromptFormat, encoder: any ImageEncoder) {
        self.format = format
        self.encoder = encoder
    }

    /// Runs the vision tower and projector (LLaVA) or merger (Qwen2-VL) on one image:
    /// `format.imageTokenCount(for:)` rows × the language model's hidden size.
    public func encodeImage(_ image: PreprocessedImage) throws -> Matrix {
        try encoder.encode(image)
    }
}
