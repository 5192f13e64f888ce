import Imaging
import Tensor

/// What a vision tower computes for one image, named as transformers names it.
public struct VisionTowerOutput: Sendable {
    /// The last layer's output (CLIP: before `post_layernorm`; SigLIP: after it; Qwen2-VL: before the merger).
    public let lastHiddenState: Matrix
    /// CLIP: `post_layernorm` of the class token; SigLIP: the attention-pooling head (1 row, or empty
    /// without a head); Qwen2-VL: the patch merger's output, one row per image token.
    public let poolerOutput: Matrix
    /// `hidden_states`: the embeddings, then every layer's output (count: layers + 1).
    public let hiddenStates: [Matrix]
}

/// A standalone image encoder (`CLIPVisionModel`, `SiglipVisionModel`, the Qwen2-VL vision transformer).
///
/// ```swift
/// let tower = try ModelLoader.loadVisionTower(directory: url)
/// let output = try tower.forward(try processor.preprocess(image))
/// ```
public protocol VisionTower: AnyObject, Sendable {
    /// Runs every layer on one preprocessed image. Throws `MultimodalError.invalidPixelValues`
    /// when the pixel layout does not fit the tower.
    func forward(_ image: PreprocessedImage) throws -> VisionTowerOutput
    /// Rows of `lastHiddenState` for `image` (what "vision tokens" counts in benchmarks).
    func sequenceLength(for image: PreprocessedImage) throws -> Int
}
