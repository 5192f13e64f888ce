import Imaging

/// How images enter the prompts of a vision-language model, read from config.json alone: the
/// placeholder token, how many feature rows (= placeholder tokens) each image becomes, and
/// Qwen2-VL's M-RoPE positions. Prefill and decode need this, not the vision tower's weights.
///
/// ```swift
/// let format = try ModelLoader.loadImagePromptFormat(directory: url)
/// let prompt = try format.expandPrompt(tokenizer.encode("USER: <image>\nWhat is this? ASSISTANT:"), images: [pixels])
/// ```
public struct ImagePromptFormat: Sendable {
    /// `architectures[0]` of config.json.
    public let architecture: String
    /// The token each image feature row stands in for (`<image>`, `<|image_pad|>`).
    public let imageTokenId: Int
    /// What marks one image in prompt text, e.g. `<image>` or `<|vision_start|><|image_pad|><|vision_end|>`.
    public let imagePlaceholder: String
    let rows: Rows

    /// What an image's feature rows are.
    enum Rows: Sendable {
        /// LLaVA: the tower's hidden-state rows, less the class token under the "default" strategy.
        case tower(VisionTowerConfig, dropsClassToken: Bool)
        /// Qwen2-VL: the patch grid merged `spatialMergeSize²` to one; the grid also sets M-RoPE positions.
        case mergedGrid(Qwen2VLVisionConfig)
    }

    /// Whether prompts with images take 3-D rotary positions (Qwen2-VL's M-RoPE), so that the
    /// tokens after them sit at `index + MRoPEPositions.delta`.
    public var usesMRoPE: Bool {
        if case .mergedGrid = rows { true } else { false }
    }

    /// Placeholder tokens `image` expands to (LLaVA: the tower's patches, less the class token
    /// under the "default" strategy; Qwen2-VL: t·h·w / merge²).
    public func imageTokenCount(for image: PreprocessedImage) throws(MultimodalError) -> Int {
        switch rows {
        case let .tower(config, dropsClassToken): try config.rows(for: image) - (dropsClassToken ? 1 : 0)
        case let .mergedGrid(config): try config.tokenCount(for: image)
        }
    }

    /// Expands the i-th `imageTokenId` in `tokenIds` to `imageTokenCount(for: images[i])` copies.
    /// Throws `MultimodalError.placeholderMismatch` unless there is exactly one placeholder per image.
    public func expandPrompt(_ tokenIds: [Int], images: [PreprocessedImage]) throws(MultimodalError) -> MultimodalPrompt {
        let layouts = try images.map { (image) throws(MultimodalError) in
            ImageLayout(tokenCount: try imageTokenCount(for: image), gridTHW: image.gridTHW)
        }
        return try expandPrompt(tokenIds, layouts: layouts)
    }

    /// ``expandPrompt(_:images:)`` from each image's token count and grid alone, for images whose
    /// features are already at hand (an encoder-cache hit needs no preprocessing).
    public func expandPrompt(_ tokenIds: [Int], layouts: [ImageLayout]) throws(MultimodalError) -> MultimodalPrompt {
        let placeholders = tokenIds.reduce(0) { $0 + ($1 == imageTokenId ? 1 : 0) }
        guard placeholders == layouts.count else { throw .placeholderMismatch(placeholders: placeholders, images: layouts.count) }
        var expanded: [Int] = [], spans: [ImageTokenSpan] = []
        expanded.reserveCapacity(tokenIds.count + layouts.reduce(0) { $0 + $1.tokenCount })
        for token in tokenIds {
            guard token == imageTokenId else {
                expanded.append(token)
                continue
            }
            let count = layouts[spans.count].tokenCount
            spans.append(ImageTokenSpan(offset: expanded.count, length: count))
            expanded += repeatElement(imageTokenId, count: count)
        }
        var mrope: MRoPEPositions?
        if case let .mergedGrid(config) = rows {
            let grids = layouts.map { $0.gridTHW ?? [] }
            mrope = MRoPEPositions(promptLength: expanded.count, images: Array(zip(spans, grids)).map { (span: $0.0, grid: $0.1) },
                                   spatialMergeSize: config.spatialMergeSize)
        }
        return MultimodalPrompt(tokenIds: expanded, imageSpans: spans, mrope: mrope)
    }
}

/// What a prompt needs of one image besides its features: how many placeholder tokens it takes and,
/// for Qwen2-VL, its patch grid `[t, h, w]` (which sets the M-RoPE positions).
public struct ImageLayout: Sendable, Equatable {
    public var tokenCount: Int
    public var gridTHW: [Int]?

    public init(tokenCount: Int, gridTHW: [Int]? = nil) {
        self.tokenCount = tokenCount
        self.gridTHW = gridTHW
    }
}
