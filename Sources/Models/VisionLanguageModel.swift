import Imaging
import Tensor

/// An image's placeholder tokens in an expanded prompt: `length` tokens from `offset`.
public struct ImageTokenSpan: Sendable, Hashable, Codable {
    public let offset: Int
    public let length: Int

    public init(offset: Int, length: Int) {
        self.offset = offset
        self.length = length
    }

    public var range: Range<Int> { offset ..< offset + length }
}

/// A prompt as the language model sees it: image placeholders expanded to one token per image
/// feature row, where each image's tokens are, and (Qwen2-VL) its M-RoPE positions.
public struct MultimodalPrompt: Sendable {
    public let tokenIds: [Int]
    /// One span per image, in prompt order.
    public let imageSpans: [ImageTokenSpan]
    /// 3-D rotary positions for Qwen2-VL; nil for models with 1-D positions.
    public let mrope: MRoPEPositions?

    /// Total image tokens in the prompt.
    public var imageTokenCount: Int { imageSpans.reduce(0) { $0 + $1.length } }

    /// Pairs the encoded images (in prompt order) with their spans, for `forward`.
    public func place(_ features: [Matrix]) throws(MultimodalError) -> [ImageFeatures] {
        guard features.count == imageSpans.count else { throw .placeholderMismatch(placeholders: imageSpans.count, images: features.count) }
        return try zip(imageSpans, features).map { (span, matrix) throws(MultimodalError) in
            guard matrix.rows == span.length else {
                throw .invalidImageFeatures("an image has \(matrix.rows) feature rows but \(span.length) placeholder tokens")
            }
            return ImageFeatures(features: matrix, offset: span.offset)
        }
    }
}

/// The vision side of a vision-language model: tower plus projector or merger.
protocol ImageEncoder: Sendable {
    /// `ImagePromptFormat.imageTokenCount(for:)` rows × language-model hidden size.
    func encode(_ image: PreprocessedImage) throws(MultimodalError) -> Matrix
}

/// A vision-language model (`LlavaForConditionalGeneration`, `Qwen2VLForConditionalGeneration`)
/// in three separate steps, so a server can encode images on their own executor and cache them:
///
/// 1. `encodeImage` turns one preprocessed image into feature rows in the language model's width;
/// 2. `expandPrompt` repeats each image placeholder token once per feature row, as the Hugging
///    Face processor does, and reports each image's span (and Qwen2-VL's M-RoPE positions);
/// 3. `languageModel.forward(_:images:mrope:cache:allLogits:)` or `forward(batch:cache:)` with
///    `BatchSequence.images` / `.mrope` runs the decoder, image rows replacing placeholder embeddings.
///
/// The two halves also load on their own: `ModelLoader.loadVisionLanguageEncoder` (step 1) and
/// `ModelLoader.loadVisionLanguageDecoder` (step 3), with `ImagePromptFormat` (step 2) from the config.
///
/// ```swift
/// let vlm = try ModelLoader.loadVisionLanguageModel(directory: url)
/// let pixels = try ImageProcessorLoader.load(directory: url).preprocess(image)
/// let prompt = try vlm.expandPrompt(tokenizer.encode("USER: <image>\nWhat is this? ASSISTANT:"), images: [pixels])
/// let cache = vlm.languageModel.makeCache(capacity: prompt.tokenIds.count + 64)
/// let logits = try vlm.languageModel.forward(prompt.tokenIds, images: prompt.place([try vlm.encodeImage(pixels)]),
///                                            mrope: prompt.mrope, cache: cache, allLogits: false)
/// ```
public final class VisionLanguageModel: Sendable {
    public let languageModel: DecoderLanguageModel
    public let vision: VisionLanguageEncoder

    init(languageModel: DecoderLanguageModel, vision: VisionLanguageEncoder) {
        self.languageModel = languageModel
        self.vision = vision
    }

    public var config: LanguageModelConfig { languageModel.config }
    public var format: ImagePromptFormat { vision.format }
    /// `architectures[0]` of config.json.
    public var architecture: String { format.architecture }
    /// The token each image feature row stands in for (`<image>`, `<|image_pad|>`).
    public var imageTokenId: Int { format.imageTokenId }
    /// What marks one image in prompt text, e.g. `<image>` or `<|vision_start|><|image_pad|><|vision_end|>`.
    public var imagePlaceholder: String { format.imagePlaceholder }
    var encoder: any ImageEncoder { vision.encoder }

    /// See `ImagePromptFormat.imageTokenCount(for:)`.
    public func imageTokenCount(for image: PreprocessedImage) throws -> Int {
        try format.imageTokenCount(for: image)
    }

    /// See `VisionLanguageEncoder.encodeImage(_:)`.
    public func encodeImage(_ image: PreprocessedImage) throws -> Matrix {
        try vision.encodeImage(image)
    }

    /// See `ImagePromptFormat.expandPrompt(_:images:)`.
    public func expandPrompt(_ tokenIds: [Int], images: [PreprocessedImage]) throws -> MultimodalPrompt {
        try format.expandPrompt(tokenIds, images: images)
    }
}
