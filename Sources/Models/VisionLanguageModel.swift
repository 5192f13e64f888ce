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
    /// Feature rows (= placeholder tokens) `image` becomes.
    func tokenCount(for image: PreprocessedImage) throws(MultimodalError) -> Int
    /// tokenCount × language-model hidden size.
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
/// ```swift
/// let vlm = try ModelLoader.loadVisionLanguageModel(directory: url)
/// let pixels = try ImageProcessorLoader.load(directory: url).preprocess(image)
/// let prompt = try vlm.expandPrompt(tokenizer.encode("USER: <image>\nWhat is this? ASSISTANT:"), images: [pixels])
/// let cache = vlm.languageModel.makeCache(capacity: prompt.tokenIds.count + 64)
/// let logits = try vlm.languageModel.forward(prompt.tokenIds, images: prompt.place([try vlm.encodeImage(pixels)]),
///                                            mrope: prompt.mrope, cache: cache, allLogits: false)
/// ```
public final class VisionLanguageModel: Sendable {
    /// `architectures[0]` of config.json.
    public let architecture: String
    public let languageModel: DecoderLanguageModel
    /// The token each image feature row stands in for (`<image>`, `<|image_pad|>`).
    public let imageTokenId: Int
    /// What marks one image in prompt text, e.g. `<image>` or `<|vision_start|><|image_pad|><|vision_end|>`.
    public let imagePlaceholder: String
    let encoder: any ImageEncoder
    /// Qwen2-VL's spatial merge size, which M-RoPE positions need; nil for 1-D positions.
    private let mropeMergeSize: Int?

    init(architecture: String, languageModel: DecoderLanguageModel, imageTokenId: Int, imagePlaceholder: String,
         encoder: any ImageEncoder, mropeMergeSize: Int?) {
        self.architecture = architecture
        self.languageModel = languageModel
        self.imageTokenId = imageTokenId
        self.imagePlaceholder = imagePlaceholder
        self.encoder = encoder
        self.mropeMergeSize = mropeMergeSize
    }

    public var config: LanguageModelConfig { languageModel.config }

    /// Placeholder tokens `image` expands to (LLaVA: the tower's patches, less the class token
    /// under the "default" strategy; Qwen2-VL: t·h·w / merge²).
    public func imageTokenCount(for image: PreprocessedImage) throws -> Int {
        try encoder.tokenCount(for: image)
    }

    /// Runs the vision tower and projector (LLaVA) or merger (Qwen2-VL) on one image:
    /// `imageTokenCount(for:)` rows × the language model's hidden size.
    public func encodeImage(_ image: PreprocessedImage) throws -> Matrix {
        try encoder.encode(image)
    }

    /// Expands the i-th `imageTokenId` in `tokenIds` to `imageTokenCount(for: images[i])` copies.
    /// Throws `MultimodalError.placeholderMismatch` unless there is exactly one placeholder per image.
    public func expandPrompt(_ tokenIds: [Int], images: [PreprocessedImage]) throws -> MultimodalPrompt {
        let placeholders = tokenIds.reduce(0) { $0 + ($1 == imageTokenId ? 1 : 0) }
        guard placeholders == images.count else { throw MultimodalError.placeholderMismatch(placeholders: placeholders, images: images.count) }
        let counts = try images.map { try encoder.tokenCount(for: $0) }
        var expanded: [Int] = [], spans: [ImageTokenSpan] = []
        expanded.reserveCapacity(tokenIds.count + counts.reduce(0, +))
        for token in tokenIds {
            guard token == imageTokenId else {
                expanded.append(token)
                continue
            }
            let count = counts[spans.count]
            spans.append(ImageTokenSpan(offset: expanded.count, length: count))
            expanded += repeatElement(imageTokenId, count: count)
        }
        var mrope: MRoPEPositions?
        if let merge = mropeMergeSize {
            let grids = images.map { $0.gridTHW ?? [] }
            mrope = MRoPEPositions(promptLength: expanded.count, images: Array(zip(spans, grids)).map { (span: $0.0, grid: $0.1) },
                                   spatialMergeSize: merge)
        }
        return MultimodalPrompt(tokenIds: expanded, imageSpans: spans, mrope: mrope)
    }
}
